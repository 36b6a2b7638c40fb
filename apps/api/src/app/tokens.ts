/**
 * The tokens live in common/tokens.ts, so that features import common/ and only app/ imports features.
 * This re-export stays for engine/ alone, which is moving to packages/engine: its adapters then import
 * common/tokens.ts and this file goes.
 */
export { CONFIG, DATABASE, REDIS_CONNECTION, ROLLOUT_QUEUE } from "../common/tokens.js";
