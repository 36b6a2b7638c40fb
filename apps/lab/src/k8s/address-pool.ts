/**
 * Loopback addresses for pods. A pod name keeps its address across incarnations (a StatefulSet's web-2
 * always comes back on the same one), so the lab's targets stay on fixed addresses; a new name takes the
 * first address no name has claimed yet, then the first free one.
 */
export class AddressPool {
  private readonly byName = new Map<string, string>();
  private readonly inUse = new Map<string, string>();

  constructor(private readonly addresses: readonly string[]) {}

  /** `from`: the candidates (a pod template's own range); default the cluster's addresses. */
  acquire(name: string, owner: string, from: readonly string[] = this.addresses): string | undefined {
    const sticky = this.byName.get(name);
    if (sticky !== undefined && !this.inUse.has(sticky) && from.includes(sticky))
      return this.take(name, sticky, owner);
    const claimed = new Set(this.byName.values());
    const fresh =
      from.find((a) => !claimed.has(a) && !this.inUse.has(a)) ?? from.find((a) => !this.inUse.has(a));
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

/** `127.0.0.41-127.0.0.52`: the addresses of one /24 from the first to the last, inclusive. */
export function parseAddressRange(range: string): string[] {
  const m = /^(\d+\.\d+\.\d+)\.(\d+)-(\d+\.\d+\.\d+)\.(\d+)$/.exec(range.trim());
  if (!m || m[1] !== m[3] || Number(m[2]) > Number(m[4]) || Number(m[4]) > 254)
    throw new Error(`address range ${JSON.stringify(range)}: expected a.b.c.first-a.b.c.last in one /24`);
  const out: string[] = [];
  for (let i = Number(m[2]); i <= Number(m[4]); i++) out.push(`${m[1]}.${i}`);
  return out;
}
