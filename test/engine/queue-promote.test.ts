// The wait scheduler wakes a waiting step's delayed job when the balancer reports a change. The queue's
// promote must run a delayed job now and do nothing (not throw) for a job that already runs or is gone:
// the event often arrives while the check it would wake is already looking.
import { jobId } from "@ebb/contracts";
// biome-ignore lint/correctness/noUndeclaredDependencies: @ebb/api's queue library, to build the queue its adapter wraps
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BullmqJobQueue } from "../../apps/api/src/engine/bullmq-queue.js";
import { type Outageable, startOwnRedis } from "../support/outage.js";

let redis: Outageable | undefined;
let queue: Queue | undefined;

beforeAll(async () => {
  redis = await startOwnRedis();
  const url = new URL(redis.url);
  queue = new Queue("promote-test", { connection: { host: url.hostname, port: Number(url.port) } });
});

afterAll(async () => {
  await queue?.close();
  await redis?.cleanup();
});

describe("BullmqJobQueue.promote", () => {
  it("runs a delayed job now, and does nothing for a job that is not delayed or does not exist", async () => {
    // Given a step's job delayed for a minute
    const jobs = new BullmqJobQueue(queue!);
    const payload = {
      rolloutId: "00000000-0000-4000-8000-000000000001",
      target: "web-1",
      stepIndex: 0,
      attempt: 1,
      leaseToken: "1",
    };
    await jobs.add("step.run", payload, 60_000);
    const id = jobId("step.run", payload);
    expect(await jobs.state(id)).toBe("delayed");
    // When it is promoted, it waits for a worker now
    await jobs.promote(id);
    expect(await jobs.state(id)).toBe("waiting");
    // Then promoting it again, or a job that does not exist, is no error
    await expect(jobs.promote(id)).resolves.toBeUndefined();
    await expect(jobs.promote("step.run:no-such-job")).resolves.toBeUndefined();
  });
});
