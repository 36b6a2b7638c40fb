export { fingerprint, type PinnedHostKey, parseHostKey } from "./host-key.js";
export { type KeySources, resolveKeyReference } from "./key-reference.js";
export { DEFAULT_SSH_CONNECT_TIMEOUT_MS, SshExecutor, type SshExecutorOptions } from "./ssh-executor.js";
