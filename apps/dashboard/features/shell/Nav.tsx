"use client";

import Link from "next/link";
import { usePathname } from "next/navigation";
import { useSession } from "../../lib/session";

const LINKS = [
  { href: "/fleets", label: "Fleets" },
  { href: "/rollouts", label: "Rollouts" },
  { href: "/runbooks", label: "Runbooks" },
  { href: "/audit", label: "Audit" },
] as const;

export function Nav() {
  const pathname = usePathname();
  const { principal, can, logout } = useSession();
  const current = (href: string) =>
    pathname === href ||
    (pathname.startsWith(`${href}/`) && !(href === "/rollouts" && pathname === "/rollouts/new"));
  return (
    <header className="topbar">
      <nav aria-label="Main" className="topbar-nav">
        <Link href="/fleets" className="brand">
          Ebb
        </Link>
        <ul>
          {[...LINKS, ...(can("manageWebhooks") ? [{ href: "/webhooks", label: "Webhooks" }] : [])].map(
            (l) => (
              <li key={l.href}>
                <Link href={l.href} aria-current={current(l.href) ? "page" : undefined}>
                  {l.label}
                </Link>
              </li>
            ),
          )}
          {can("triggerRollout") && (
            <li>
              <Link
                href="/rollouts/new"
                className="nav-action"
                aria-current={pathname === "/rollouts/new" ? "page" : undefined}
              >
                New rollout
              </Link>
            </li>
          )}
        </ul>
      </nav>
      <div className="topbar-user">
        <span data-testid="current-user">
          <strong>{principal.name}</strong>{" "}
          <span className={`role role-${principal.scope}`}>{principal.scope}</span>
        </span>
        <button type="button" className="secondary" onClick={() => void logout()}>
          Log out
        </button>
      </div>
    </header>
  );
}
