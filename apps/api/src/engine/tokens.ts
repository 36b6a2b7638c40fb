/** The `Engine` (rollout state machine + dispatch). */
export const ENGINE = Symbol("ebb.engine");
/** The `DriverRegistry` (balancers and executors for stored fleets and targets). */
export const DRIVERS = Symbol("ebb.drivers");
export const CHANGES = Symbol("ebb.rollout-changes");
