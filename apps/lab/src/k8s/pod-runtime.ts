import { mkdir, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import path from "node:path";
import { createVm, startVm, vmDir } from "../vm/index.js";
import { isVmProcessAlive } from "../vm/process.js";
import { type AddressPool, parseAddressRange } from "./address-pool.js";
import { ContainerProcess, type LabImage, portOpen } from "./container-process.js";
import { type PodPlan, planPod, SIDECAR_CONTAINER } from "./pod-plan.js";
import type { ServiceAccountTokens } from "./rbac.js";
import type { Registry } from "./registry.js";
import { PODS } from "./resources.js";
import { Sidecar } from "./sidecar.js";
import type { StoreEvent } from "./store.js";
import {
  type Container,
  NODE_NAME,
  nowIso,
  POD_IP_ANNOTATION,
  POD_IP_RANGE_ANNOTATION,
  type Pod,
  type PodCondition,
  type PodStatus,
} from "./types.js";

export interface SidecarMode {
  /** The app listens on its containerPort plus this, the sidecar on the containerPort. */
  appPortOffset: number;
  /** Envoy's admin port (GET /stats) on the pod's address. */
  adminPort: number;
  /** How long the sidecar keeps accepting after termination began (Istio's terminationDrainDuration, 5 s). */
  drainSeconds: number;
}

export interface PodRuntimeOptions {
  registry: Registry;
  /** Pod web servers live in `<dir>/pods/<namespace>.<pod>.<uid>/vms/<pod>`. */
  dir: string;
  /** Multiplies every pod duration (probe period, preStop, grace period, sidecar drain). */
  timeScale: number;
  addresses: AddressPool;
  sidecar: SidecarMode | null;
  /** Lab VM settings for pod processes. */
  vm: { keepAliveTimeoutMs: number; drainLingerMs: number };
  /** Keep a pod's directory (vm.log) after it is gone. */
  keepPodDirs?: boolean;
  /** Images that run as plain processes (native sidecars), by name without tag. */
  images?: Record<string, LabImage>;
  /** The API server's URL once it listens, for KUBERNETES_SERVICE_* and the pods' service-account access. */
  apiUrl?: () => string | undefined;
  serviceAccounts?: ServiceAccountTokens;
  /**
   * The node's address (status.hostIP): the kubelet's probes and hook calls come from it, as on a real node,
   * so a pod can tell them from its clients. Default 127.0.0.1.
   */
  nodeAddress?: string;
  log: (line: string) => void;
}

/**
 * The kubelet projects the service-account token into /var/run/secrets/kubernetes.io/serviceaccount; lab
 * pods share the host's filesystem, so the kubelet writes it into the pod's directory and says where in
 * this variable (and the API URL, plain HTTP, in KUBE_API_URL). Programs honour both when set.
 */
export const SERVICEACCOUNT_DIR_ENV = "KUBE_SERVICEACCOUNT_DIR";
export const API_URL_ENV = "KUBE_API_URL";

function imageName(image: string | undefined): string {
  const ref = image ?? "";
  const at = ref.lastIndexOf(":");
  return at > ref.lastIndexOf("/") ? ref.slice(0, at) : ref;
}

/** The kubelet's hook call: GET on the pod, waiting for the answer (an error ends the hook too). */
function hookGet(host: string, port: number, urlPath: string, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: urlPath, method: "GET", agent: false, localAddress }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

const POLL_MS = 20;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function probe(
  host: string,
  port: number,
  urlPath: string,
  timeoutMs: number,
  localAddress: string,
): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { host, port, path: urlPath, method: "GET", agent: false, timeout: timeoutMs, localAddress },
      (res) => {
        res.resume();
        const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400;
        res.on("end", () => resolve(ok));
        res.on("error", () => resolve(false));
      },
    );
    req.on("timeout", () => req.destroy(new Error("probe timeout")));
    req.on("error", () => resolve(false));
    req.end();
  });
}

function setCondition(status: PodStatus, type: string, ok: boolean, reason?: string, message?: string): void {
  status.conditions ??= [];
  const conditions = status.conditions;
  const value = ok ? "True" : "False";
  const existing = conditions.find((c) => c.type === type);
  const next: PodCondition = {
    type,
    status: value,
    lastProbeTime: null,
    lastTransitionTime:
      existing && existing.status === value && existing.lastTransitionTime
        ? existing.lastTransitionTime
        : nowIso(),
    ...(reason && !ok ? { reason } : {}),
    ...(message && !ok ? { message } : {}),
  };
  if (existing) conditions[conditions.indexOf(existing)] = next;
  else conditions.push(next);
}

type Phase = "pending" | "starting" | "running" | "terminating" | "gone";

/** One incarnation of one pod (one uid): its address, its web server process and its sidecar. */
class PodInstance {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  private phase: Phase = "pending";
  private plan: PodPlan;
  private host: string | undefined;
  private appPort = 0;
  private pid: number | null = null;
  private vmDirPath: string | undefined;
  private incarnationDir: string | undefined;
  private sidecar: Sidecar | undefined;
  private probeReady = false;
  private successes = 0;
  private failures = 0;
  private restartCount = 0;
  private startedAt: string | undefined;
  private startTime: string | undefined;
  private exited: { code: number; reason: string; at: string } | undefined;
  private waitingReason: { reason: string; message: string } | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private starting: Promise<void> = Promise.resolve();
  private deadline = Number.POSITIVE_INFINITY;
  private killed = false;
  /** Native sidecars, in spec order; null for an image the lab cannot run (it counts as running). */
  private sidecarProcs: { spec: Container; proc: ContainerProcess | null }[] = [];

  constructor(
    pod: Pod,
    private readonly rt: PodRuntimeOptions,
  ) {
    this.uid = pod.metadata.uid ?? "";
    this.namespace = pod.metadata.namespace ?? "default";
    this.name = pod.metadata.name ?? "";
    this.plan = planPod(pod, rt.timeScale);
  }

  private get store() {
    return this.rt.registry.store;
  }

  private current(): Pod | undefined {
    const o = this.store.peek(PODS, this.namespace, this.name) as Pod | undefined;
    return o && o.metadata.uid === this.uid ? o : undefined;
  }

  private get owner(): string {
    return `${this.namespace}/${this.name}/${this.uid}`;
  }

  begin(pod: Pod): void {
    // The scheduler's part: one node, bound at once.
    if (!pod.spec.nodeName) {
      this.store.mutate(PODS, this.namespace, this.name, (o) => {
        (o as Pod).spec.nodeName = NODE_NAME;
      });
    }
    this.starting = this.start().catch((err: unknown) => {
      this.rt.log(`pod ${this.owner}: start failed: ${(err as Error).message}`);
    });
  }

  private async start(): Promise<void> {
    const pinned = this.current()?.metadata.annotations?.[POD_IP_ANNOTATION];
    if (pinned) {
      if (!this.rt.addresses.pin(`${this.namespace}/${this.name}`, pinned, this.owner)) {
        this.waitingReason = { reason: "AddressInUse", message: `${pinned} is held by another pod` };
        this.syncStatus();
        return;
      }
      this.host = pinned;
    } else {
      const range = this.current()?.metadata.annotations?.[POD_IP_RANGE_ANNOTATION];
      this.host = this.rt.addresses.acquire(
        `${this.namespace}/${this.name}`,
        this.owner,
        ...(range ? [parseAddressRange(range)] : []),
      );
    }
    if (!this.host) {
      this.waitingReason = { reason: "NoAddress", message: "no free pod address in the lab's pool" };
      this.syncStatus();
      return;
    }
    this.phase = "starting";
    this.startTime = nowIso();
    const sidecarMode = this.plan.sidecar ? this.rt.sidecar : null;
    this.appPort = sidecarMode ? this.plan.port + sidecarMode.appPortOffset : this.plan.port;
    // The VM is named after the pod (its `GET /` answers host: web-0); each incarnation has its own directory.
    const incarnationDir = path.join(
      this.rt.dir,
      "pods",
      `${this.namespace}.${this.name}.${this.uid.slice(0, 8)}`,
    );
    const spec = {
      name: this.name.slice(0, 64),
      host: this.host,
      port: this.appPort,
      version: this.plan.version,
      keepAliveTimeoutMs: this.rt.vm.keepAliveTimeoutMs,
      drainLingerMs: this.rt.vm.drainLingerMs,
      // The app's own hard deadline; the kubelet's SIGKILL at the grace deadline comes first.
      stopDeadlineMs: Math.max(this.rt.vm.drainLingerMs + 1_000, this.plan.graceMs + 1_000),
      // A client's idle keep-alive connection is kept open for what the grace period leaves after preStop
      // (less a fifth for the exit), so a request a hop held back still gets its `Connection: close` answer
      // rather than crossing a FIN (issue 17); never less than the monitoring linger.
      drainIdleMs: Math.max(
        this.rt.vm.drainLingerMs,
        Math.min(this.rt.vm.keepAliveTimeoutMs, Math.round((this.plan.graceMs - this.plan.preStopMs) * 0.8)),
      ),
      ...(this.plan.hangOnStop ? { faults: { hangOnStop: true } } : {}),
    };
    await createVm(incarnationDir, spec);
    this.vmDirPath = vmDir(incarnationDir, spec.name);
    this.incarnationDir = incarnationDir;
    this.syncStatus();
    if (sidecarMode) {
      this.sidecar = await Sidecar.start({
        host: this.host,
        port: this.plan.port,
        appHost: this.host,
        appPort: this.appPort,
        adminPort: sidecarMode.adminPort,
        log: this.rt.log,
      });
    }
    await this.startSidecars();
    await this.launch();
  }

  /** The environment of a process container: its env (downward API resolved) and the API's address. */
  private async containerEnv(c: Container): Promise<Record<string, string>> {
    const pod = this.current();
    const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOSTNAME: this.name };
    const api = this.rt.apiUrl?.();
    if (api) {
      const u = new URL(api);
      env.KUBERNETES_SERVICE_HOST = u.hostname;
      env.KUBERNETES_SERVICE_PORT = u.port;
      env[API_URL_ENV] = api;
    }
    if (
      pod &&
      pod.spec.automountServiceAccountToken !== false &&
      this.rt.serviceAccounts &&
      this.incarnationDir
    ) {
      const dir = path.join(this.incarnationDir, "serviceaccount");
      await mkdir(dir, { recursive: true });
      const token = this.rt.serviceAccounts.issue({
        namespace: this.namespace,
        serviceAccount: pod.spec.serviceAccountName ?? "default",
        pod: this.name,
        podUid: this.uid,
      });
      await writeFile(path.join(dir, "token"), token, { mode: 0o600 });
      await writeFile(path.join(dir, "namespace"), this.namespace);
      env[SERVICEACCOUNT_DIR_ENV] = dir;
    }
    const field = (p: string): string => {
      switch (p) {
        case "metadata.name":
          return this.name;
        case "metadata.namespace":
          return this.namespace;
        case "metadata.uid":
          return this.uid;
        case "status.podIP":
          return this.host ?? "";
        case "status.hostIP":
          return this.rt.nodeAddress ?? "127.0.0.1";
        case "spec.nodeName":
          return NODE_NAME;
        case "spec.serviceAccountName":
          return pod?.spec.serviceAccountName ?? "default";
        default:
          return pod?.metadata.labels?.[/^metadata\.labels\['(.+)'\]$/.exec(p)?.[1] ?? ""] ?? "";
      }
    };
    for (const e of c.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value;
      else if (e.valueFrom?.fieldRef) env[e.name] = field(e.valueFrom.fieldRef.fieldPath);
    }
    return env;
  }

  /**
   * Native sidecars start in order before the app, each once its declared port accepts connections (its
   * `started`); an image the lab cannot run is a container that only reports Running.
   */
  private async startSidecars(): Promise<void> {
    for (const spec of this.plan.sidecars) {
      if (this.phase !== "starting") return;
      const image = this.rt.images?.[imageName(spec.image)];
      if (!image || !this.incarnationDir || !this.host) {
        this.sidecarProcs.push({ spec, proc: null });
        continue;
      }
      const proc = new ContainerProcess(
        spec.name,
        [...image.command, ...(spec.args ?? [])],
        await this.containerEnv(spec),
        path.join(this.incarnationDir, `${spec.name}.log`),
        (line) => this.rt.log(`pod ${this.namespace}/${this.name} [${spec.name}] ${line}`),
      );
      proc.start();
      this.sidecarProcs.push({ spec, proc });
      const port = spec.ports?.[0]?.containerPort;
      const deadline = Date.now() + 15_000;
      while (proc.alive && Date.now() < deadline && this.phase === "starting") {
        if (port === undefined || (await portOpen(this.host, port))) break;
        await sleep(POLL_MS);
      }
      this.syncStatus();
    }
  }

  private sidecarsUp(): boolean {
    return (
      this.sidecarProcs.length === this.plan.sidecars.length &&
      this.sidecarProcs.every((s) => s.proc?.alive ?? true)
    );
  }

  private async launch(): Promise<void> {
    if (this.phase === "terminating" || this.phase === "gone" || !this.vmDirPath) return;
    try {
      const started = await startVm(this.vmDirPath);
      this.pid = started.pid;
      this.startedAt = nowIso();
      this.exited = undefined;
      this.waitingReason = undefined;
      if (this.phase === "starting") this.phase = "running";
      this.rt.log(
        `pod ${this.owner}: running pid ${started.pid} on ${this.host}:${this.appPort} (v${started.version})`,
      );
    } catch (err) {
      this.waitingReason = {
        reason: "CrashLoopBackOff",
        message: (err as Error).message.split("\n")[0] ?? "",
      };
      this.syncStatus();
      if (this.phase === "starting" || this.phase === "running")
        setTimeout(() => void this.launch(), Math.max(200, 10_000 * this.rt.timeScale)).unref();
      return;
    }
    this.syncStatus();
    this.scheduleProbe(this.plan.probe?.initialDelayMs ?? 0);
  }

  private scheduleProbe(ms: number): void {
    clearTimeout(this.probeTimer);
    if (this.phase === "gone") return;
    this.probeTimer = setTimeout(() => void this.probeTick(), ms);
  }

  private async probeTick(): Promise<void> {
    if (this.phase === "gone" || this.pid === null || !this.host) return;
    const p = this.plan.probe;
    if (!isVmProcessAlive(this.pid)) {
      this.onExit(this.phase === "terminating" ? "Completed" : "Error");
      if (this.phase === "running") {
        this.restartCount++;
        void this.launch();
      }
      return;
    }
    for (const s of this.sidecarProcs) {
      // restartPolicy: Always: a native sidecar that died while the pod runs comes back.
      if (s.proc && !s.proc.alive && this.phase === "running") {
        s.proc.restarts++;
        s.proc.start();
        this.syncStatus();
      }
    }
    if (p === null) {
      this.setProbeReady(true);
    } else {
      const port = this.plan.sidecar && this.rt.sidecar && p.port === this.plan.port ? this.appPort : p.port;
      const ok = await probe(this.host, port, p.path, p.timeoutMs, this.rt.nodeAddress ?? "127.0.0.1");
      if (ok) {
        this.successes++;
        this.failures = 0;
        if (this.successes >= p.successThreshold) this.setProbeReady(true);
      } else {
        this.failures++;
        this.successes = 0;
        if (this.failures >= p.failureThreshold) this.setProbeReady(false);
      }
    }
    this.scheduleProbe(p?.periodMs ?? Math.max(100, 1_000 * this.rt.timeScale));
  }

  private setProbeReady(ready: boolean): void {
    if (this.probeReady === ready) return;
    this.probeReady = ready;
    this.syncStatus();
  }

  private onExit(reason: string): void {
    this.pid = null;
    this.probeReady = false;
    this.successes = 0;
    this.exited = { code: reason === "Completed" ? 0 : 137, reason, at: nowIso() };
    this.syncStatus();
  }

  /** The kubelet's status: phase, addresses, conditions (Ready = containers ready AND every gate True). */
  syncStatus(): void {
    const pod = this.current();
    if (!pod || this.phase === "gone") return;
    this.store.mutate(PODS, this.namespace, this.name, (o) => this.fillStatus(o as Pod));
  }

  /** A restarting container keeps the pod Running; only the end of termination makes it terminal. */
  private podPhase(running: boolean): string {
    if (this.phase === "terminating" && this.exited) return this.exited.code === 0 ? "Succeeded" : "Failed";
    if (running || this.phase === "running" || this.phase === "terminating") return "Running";
    return "Pending";
  }

  private fillStatus(pod: Pod): void {
    pod.status ??= {};
    const status = pod.status;
    const running = this.pid !== null;
    status.phase = this.podPhase(running);
    if (this.host) {
      status.podIP = this.host;
      status.podIPs = [{ ip: this.host }];
      status.hostIP = this.rt.nodeAddress ?? "127.0.0.1";
      (status as Record<string, unknown>).hostIPs = [{ ip: status.hostIP }];
    }
    if (this.startTime) status.startTime = this.startTime;
    const sidecarUp = this.sidecar !== undefined;
    const containersReady =
      running && this.probeReady && (!this.plan.sidecar || sidecarUp) && this.sidecarsUp();
    const gates = pod.spec.readinessGates ?? [];
    const missing = gates.filter(
      (g) => status.conditions?.find((c) => c.type === g.conditionType)?.status !== "True",
    );
    setCondition(status, "PodReadyToStartContainers", this.host !== undefined);
    setCondition(status, "Initialized", true);
    setCondition(
      status,
      "ContainersReady",
      containersReady,
      "ContainersNotReady",
      `containers with unready status: [${this.plan.container.name}]`,
    );
    if (!containersReady) {
      setCondition(
        status,
        "Ready",
        false,
        "ContainersNotReady",
        `containers with unready status: [${this.plan.container.name}]`,
      );
    } else if (missing.length > 0) {
      const gate = missing[0]!.conditionType;
      const has = status.conditions?.some((c) => c.type === gate);
      setCondition(
        status,
        "Ready",
        false,
        "ReadinessGatesNotReady",
        has
          ? `the status of pod readiness gate "${gate}" is not "True"`
          : `corresponding condition of pod readiness gate "${gate}" does not exist.`,
      );
    } else {
      setCondition(status, "Ready", true);
    }
    setCondition(status, "PodScheduled", true);
    const app = this.plan.container;
    const state = running
      ? { running: { startedAt: this.startedAt } }
      : this.exited
        ? {
            terminated: {
              exitCode: this.exited.code,
              reason: this.exited.reason,
              finishedAt: this.exited.at,
              startedAt: this.startedAt,
            },
          }
        : {
            waiting: {
              reason: this.waitingReason?.reason ?? "ContainerCreating",
              ...(this.waitingReason ? { message: this.waitingReason.message } : {}),
            },
          };
    const statuses: Record<string, unknown>[] = [
      {
        name: app.name,
        image: app.image ?? "lab/web",
        imageID: "",
        containerID: running ? `lab://${this.pid}` : "",
        ready: containersReady,
        started: running,
        restartCount: this.restartCount,
        state,
      },
    ];
    if (this.plan.sidecar) {
      statuses.push({
        name: SIDECAR_CONTAINER,
        image: "lab/envoy",
        imageID: "",
        containerID: sidecarUp ? "lab://sidecar" : "",
        ready: sidecarUp,
        started: sidecarUp,
        restartCount: 0,
        state: sidecarUp
          ? { running: { startedAt: this.startTime } }
          : { waiting: { reason: "PodInitializing" } },
      });
    }
    status.containerStatuses = statuses;
    if (this.plan.sidecars.length > 0) {
      (status as Record<string, unknown>).initContainerStatuses = this.plan.sidecars.map((spec) => {
        const s = this.sidecarProcs.find((x) => x.spec.name === spec.name);
        const up = s !== undefined && (s.proc?.alive ?? true);
        const finished = s?.proc?.finishedAt;
        return {
          name: spec.name,
          image: spec.image ?? "",
          imageID: "",
          containerID: up ? `lab://${spec.name}` : "",
          ready: up,
          started: up,
          restartCount: s?.proc?.restarts ?? 0,
          state: up
            ? { running: { startedAt: s?.proc?.startedAt ?? this.startTime } }
            : finished
              ? {
                  terminated: { exitCode: s?.proc?.exitCode ?? 0, reason: "Completed", finishedAt: finished },
                }
              : { waiting: { reason: "PodInitializing" } },
        };
      });
    }
  }

  /** A change to the pod object: a deletion starts or shortens termination, a gate flip changes Ready. */
  onUpdate(pod: Pod): void {
    if (pod.metadata.deletionTimestamp) {
      const graceMs = Math.round((pod.metadata.deletionGracePeriodSeconds ?? 0) * 1000 * this.rt.timeScale);
      if (this.phase !== "terminating" && this.phase !== "gone") void this.terminate(graceMs);
      else this.deadline = Math.min(this.deadline, Date.now() + graceMs);
    }
    this.syncStatus();
  }

  /**
   * Graceful termination as the kubelet does it: the sidecar starts draining at once; the app container
   * runs its preStop hook, then gets SIGTERM, and SIGKILL at the grace deadline (counted from the deletion,
   * preStop included). The sidecar outlives the app until its drain duration is over. Then the object goes.
   */
  private async terminate(graceMs: number): Promise<void> {
    const t0 = Date.now();
    this.phase = "terminating";
    this.deadline = t0 + graceMs;
    this.sidecar?.beginDrain();
    this.rt.log(`pod ${this.owner}: terminating (grace ${graceMs} ms, preStop ${this.plan.preStopMs} ms)`);
    await this.starting;
    const hook = this.plan.preStopHttp;
    if (hook && this.host && this.pid !== null) {
      let done = false;
      const host = this.host;
      void hookGet(host, hook.port, hook.path, this.rt.nodeAddress ?? "127.0.0.1").then(
        (code) => {
          done = true;
          this.rt.log(
            `pod ${this.owner}: preStop GET :${hook.port}${hook.path} -> ${code} after ${Date.now() - t0} ms`,
          );
        },
        (err: Error) => {
          done = true;
          this.rt.log(`pod ${this.owner}: FailedPreStopHook GET :${hook.port}${hook.path}: ${err.message}`);
        },
      );
      await this.waitUntil(() => done || this.pid === null);
    } else {
      await this.waitUntil(() => Date.now() >= t0 + this.plan.preStopMs || this.pid === null);
    }
    if (this.pid !== null) this.signal("SIGTERM");
    await this.waitUntil(() => this.pid === null || !isVmProcessAlive(this.pid));
    if (this.pid !== null && isVmProcessAlive(this.pid)) {
      this.killed = true;
      this.signal("SIGKILL");
      const pid = this.pid;
      const killDeadline = Date.now() + 5_000;
      while (isVmProcessAlive(pid) && Date.now() < killDeadline) await sleep(POLL_MS);
    }
    if (this.pid !== null) this.onExit(this.killed ? "Error" : "Completed");
    clearTimeout(this.probeTimer);
    // Native sidecars stop after the app containers, in reverse order, within what is left of the grace.
    for (const s of [...this.sidecarProcs].reverse()) {
      const proc = s.proc;
      if (!proc?.alive) continue;
      proc.signal("SIGTERM");
      await this.waitUntil(() => !proc.alive);
      if (proc.alive) proc.signal("SIGKILL");
    }
    this.syncStatus();
    if (this.sidecar && this.rt.sidecar) {
      const drainEnd = t0 + Math.round(this.rt.sidecar.drainSeconds * 1000 * this.rt.timeScale);
      await this.waitUntil(() => Date.now() >= drainEnd);
    }
    await this.finish();
    this.rt.registry.finalizePod(this.namespace, this.name, this.uid);
  }

  /** Polls until `done` or the grace deadline (which a second delete may bring forward). */
  private async waitUntil(done: () => boolean): Promise<void> {
    while (!done() && Date.now() < this.deadline && this.phase !== "gone") await sleep(POLL_MS);
  }

  private signal(sig: NodeJS.Signals): void {
    if (this.pid === null) return;
    try {
      process.kill(this.pid, sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
    }
  }

  /** Releases everything the incarnation held (process, sidecar, address, directory). */
  private async finish(): Promise<void> {
    clearTimeout(this.probeTimer);
    if (this.pid !== null && isVmProcessAlive(this.pid)) {
      this.signal("SIGKILL");
      const pid = this.pid;
      const deadline = Date.now() + 5_000;
      while (isVmProcessAlive(pid) && Date.now() < deadline) await sleep(POLL_MS);
    }
    this.pid = null;
    for (const s of this.sidecarProcs) s.proc?.close();
    this.rt.serviceAccounts?.revoke(this.uid);
    await this.sidecar?.close();
    this.sidecar = undefined;
    if (this.host) this.rt.addresses.release(this.host, this.owner);
    const dir = this.incarnationDir;
    this.phase = "gone";
    if (dir && !this.rt.keepPodDirs) await rm(dir, { recursive: true, force: true });
  }

  /** The object was removed (force delete, or the runtime stops): the process dies now. */
  async kill(): Promise<void> {
    if (this.phase === "gone") return;
    await this.starting;
    this.deadline = Date.now();
    await this.finish();
  }
}

/**
 * The kubelet of the lab's single node: every pod the API server holds runs as a lab VM web server process
 * on its own loopback address, with readiness probes, preStop, SIGTERM and SIGKILL at the grace deadline.
 */
export class PodRuntime {
  private readonly pods = new Map<string, PodInstance>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly opts: PodRuntimeOptions) {}

  start(): void {
    const store = this.opts.registry.store;
    this.unsubscribe = store.subscribe((e) => this.onEvent(e));
    for (const pod of store.list(PODS)) this.onEvent({ type: "ADDED", rv: 0, resource: PODS, object: pod });
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await Promise.all([...this.pods.values()].map((p) => p.kill()));
    this.pods.clear();
  }

  private onEvent(e: StoreEvent): void {
    if (e.resource !== PODS) return;
    const pod = e.object as Pod;
    const uid = pod.metadata.uid ?? "";
    const inst = this.pods.get(uid);
    if (e.type === "DELETED") {
      if (inst) {
        this.pods.delete(uid);
        void inst.kill();
      }
      return;
    }
    if (!inst) {
      if (pod.metadata.deletionTimestamp) return;
      const created = new PodInstance(pod, this.opts);
      this.pods.set(uid, created);
      // After this write's listeners: the scheduler's binding is a write of its own.
      queueMicrotask(() =>
        created.begin(
          (this.opts.registry.store.peek(PODS, pod.metadata.namespace, pod.metadata.name ?? "") as Pod) ??
            pod,
        ),
      );
      return;
    }
    inst.onUpdate(pod);
  }
}

export function podsDir(labDir: string): string {
  return path.join(labDir, "k8s");
}
