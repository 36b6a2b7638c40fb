import type { Metadata } from "next";
import { LoginForm } from "../../features/auth/LoginForm";

export const metadata: Metadata = { title: "Log in" };

/** Only a path on this site is a valid way back, never another origin (an open redirect). */
function safeNext(next: string | string[] | undefined): string {
  const value = Array.isArray(next) ? next[0] : next;
  return value?.startsWith("/") && !value.startsWith("//") && !value.startsWith("/login") ? value : "/fleets";
}

export default async function LoginPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { next } = await searchParams;
  return <LoginForm next={safeNext(next)} />;
}
