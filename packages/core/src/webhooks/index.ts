export * from "./events.js";
export * from "./message.js";
export * from "./signature.js";
