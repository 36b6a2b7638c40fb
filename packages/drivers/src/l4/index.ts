export { DEFAULT_REQUEST_TIMEOUT_MS } from "./admin-client.js";
export { L4Balancer, type L4BalancerOptions, type L4FleetFacts } from "./balancer.js";
export { type L4WatchEvent, WATCH_RESYNC, type WatchOptions } from "./event-watch.js";
