/** Redis cannot be used as configured: the process must not start. The message says what to do. */
export class RedisSetupError extends Error {
  override readonly name = "RedisSetupError";
}
