export {
  type BalancerCommand,
  CommandBalancer,
  type CommandBalancerConfig,
  type CommandBalancerOptions,
  commandBalancerConfigSchema,
  parseStatusOutput,
  type StatusLine,
  statusLineSchema,
} from "./balancer.js";
