export {
  type AttributedError,
  attributeErrors,
  type ClientError,
  countBy,
  type RolloutSpan,
  type StepSpan,
} from "./attribute.js";
export { parseSoakEnv, type SoakEnv } from "./env.js";
export { gapSchedule, seededRandom } from "./schedule.js";
export {
  freeLoopbackPort,
  runSoak,
  SOAK_FLEETS,
  SOAK_PROFILES,
  type SoakEbb,
  type SoakFleetName,
  type SoakFleetResult,
  type SoakOptions,
  type SoakProfileName,
  type SoakReport,
} from "./soak.js";
