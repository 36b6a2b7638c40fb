import { Logger } from "@nestjs/common";
import { Queue } from "bullmq";
import type { RedisConnections } from "./connections.js";

/** A BullMQ queue on the shared queue connection, ready to take jobs. */
export async function openQueue(name: string, redis: RedisConnections): Promise<Queue> {
  const queue = new Queue(name, { connection: redis.queueConnection() });
  const logger = new Logger("queue");
  // A Queue re-emits its connection's errors; an EventEmitter without an 'error' listener throws them
  // as uncaught exceptions and ends the process. RedisConnections already logs the outage once.
  queue.on("error", (err) => logger.debug(`${name}: ${err.message}`));
  // The queue connection has no offline queue, so a command sent before it is connected fails; the
  // app starts serving only once it is.
  await queue.waitUntilReady();
  return queue;
}
