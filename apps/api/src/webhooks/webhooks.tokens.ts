/** The BullMQ `Queue` named QUEUES.webhook. */
export const WEBHOOK_QUEUE = Symbol("ebb.webhook-queue");
