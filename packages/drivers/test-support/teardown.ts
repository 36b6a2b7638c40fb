/** Cleanups registered as resources are created, run in reverse order after each test. */
export class Teardown {
  private readonly steps: (() => unknown)[] = [];

  add<T>(resource: T, cleanup: (r: T) => unknown): T {
    this.steps.push(() => cleanup(resource));
    return resource;
  }

  defer(cleanup: () => unknown): void {
    this.steps.push(cleanup);
  }

  async run(): Promise<void> {
    const errors: unknown[] = [];
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, "teardown failed");
  }
}
