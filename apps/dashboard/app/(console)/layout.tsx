import type { ReactNode } from "react";
import { Nav } from "../../features/shell/Nav";
import { WorkerBanner } from "../../features/shell/WorkerBanner";
import { SessionProvider } from "../../lib/session";

/** Every page but /login: needs a session, shows the navigation and the current user. */
export default function ConsoleLayout({ children }: { children: ReactNode }) {
  return (
    <SessionProvider>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <Nav />
      <main id="main" className="main">
        <WorkerBanner />
        {children}
      </main>
    </SessionProvider>
  );
}
