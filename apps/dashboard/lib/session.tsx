"use client";

import { useRouter } from "next/navigation";
import { createContext, type ReactNode, useCallback, useContext, useEffect, useState } from "react";
import { goToLogin } from "./api/client";
import * as api from "./api/endpoints";
import { ApiError, describeError } from "./api/errors";
import type { Principal } from "./api/types";
import { type Ability, can } from "./scopes";

interface SessionValue {
  principal: Principal;
  can(ability: Ability): boolean;
  logout(): Promise<void>;
}

const SessionContext = createContext<SessionValue | null>(null);

type State =
  | { kind: "loading" }
  | { kind: "ready"; principal: Principal }
  | { kind: "error"; message: string };

/**
 * The signed-in user for every page but /login. Asks the API who we are (`GET /auth/me`, which also hands
 * out the CSRF token); without a session it sends the browser to /login and back here afterwards.
 */
export function SessionProvider({ children }: { children: ReactNode }) {
  const router = useRouter();
  const [state, setState] = useState<State>({ kind: "loading" });

  useEffect(() => {
    let cancelled = false;
    api.me().then(
      (answer) => {
        if (!cancelled) setState({ kind: "ready", principal: answer.principal });
      },
      (err: unknown) => {
        if (cancelled) return;
        if (err instanceof ApiError && err.status === 401) goToLogin();
        else {
          setState({ kind: "error", message: describeError(err) });
        }
      },
    );
    return () => {
      cancelled = true;
    };
  }, []);

  const logout = useCallback(async () => {
    try {
      await api.logout();
    } finally {
      router.replace("/login");
    }
  }, [router]);

  if (state.kind === "loading") {
    return (
      <p className="page-status" role="status">
        Checking your session…
      </p>
    );
  }
  if (state.kind === "error") {
    return (
      <div className="page-status" role="alert">
        <p>The dashboard cannot reach the Ebb API: {state.message}</p>
        <button type="button" onClick={() => window.location.reload()}>
          Try again
        </button>
      </div>
    );
  }
  const principal = state.principal;
  return (
    <SessionContext.Provider value={{ principal, can: (a) => can(principal.scope, a), logout }}>
      {children}
    </SessionContext.Provider>
  );
}

export function useSession(): SessionValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error("useSession outside SessionProvider: the page is not under app/(console)");
  return value;
}
