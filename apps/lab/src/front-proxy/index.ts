export { FrontProxy, type FrontProxyOptions, type FrontProxyStats } from "./proxy.js";
