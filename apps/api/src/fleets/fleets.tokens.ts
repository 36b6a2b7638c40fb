/** The `LiveTraffic` sampler shared by the fleet and rollout event streams. */
export const LIVE_TRAFFIC = Symbol("ebb.live-traffic");
