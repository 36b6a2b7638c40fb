/**
 * @ebb/engine: the run engine. Framework-free (no NestJS, Prisma, BullMQ, process.env): it talks to the
 * world through the ports of ports.ts, which apps/api implements with PostgreSQL and BullMQ.
 */
export * from "./context-loader.js";
export * from "./engine.js";
export * from "./observer.js";
export * from "./ports.js";
export { expectedJob } from "./reconciler.js";
export type { EngineStats } from "./stats.js";
export type { StepContext, StepOutcome } from "./steps/index.js";
