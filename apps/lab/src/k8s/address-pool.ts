/**
 * Loopback addresses for pods. A pod name keeps its address across incarnations (a StatefulSet's web-2
 * always comes back on the same one), so the lab's targets stay on fixed addresses; a new name takes the
 * first address no name has claimed yet, then the first free one.
 */
export class AddressPool {
  private readonly byName = new Map<string, string>();
  private readonly inUse = new Map<string, string>();

  constructor(private readonly addresses: readonly string[]) {}

  acquire(name: string, owner: string): string | undefined {
    const sticky = this.byName.get(name);
    if (sticky !== undefined && !this.inUse.has(sticky)) return this.take(name, sticky, owner);
    const claimed = new Set(this.byName.values());
    const fresh =
      this.addresses.find((a) => !claimed.has(a) && !this.inUse.has(a)) ??
      this.addresses.find((a) => !this.inUse.has(a));
    return fresh === undefined ? undefined : this.take(name, fresh, owner);
  }

  /** Marks an address (pinned by annotation) as used; false when another pod holds it. */
  pin(name: string, address: string, owner: string): boolean {
    const holder = this.inUse.get(address);
    if (holder !== undefined && holder !== owner) return false;
    this.take(name, address, owner);
    return true;
  }

  release(address: string, owner: string): void {
    if (this.inUse.get(address) === owner) this.inUse.delete(address);
  }

  private take(name: string, address: string, owner: string): string {
    this.byName.set(name, address);
    this.inUse.set(address, owner);
    return address;
  }
}
