/** The process's `EbbMetrics`. */
export const METRICS = Symbol("ebb.metrics");
/** The engine's observers (`EngineObserver[]`): metrics, and traces when they are on. */
export const ENGINE_OBSERVERS = Symbol("ebb.engine-observers");
