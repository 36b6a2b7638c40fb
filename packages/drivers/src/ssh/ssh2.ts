// ssh2 is CommonJS: Node's ESM loader finds only some of its named exports (`Client`, not `utils`), while
// bundlers and vitest find them all. Taking them off the default export works everywhere.
import ssh2 from "ssh2";

export const { Client, utils } = ssh2;
