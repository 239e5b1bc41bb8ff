/**
 * scripts/profile-webgpu.ts: reading tfjs's per-dispatch timings, and a real profile of the
 * paper model's training step on the WebGPU adapter here (lavapipe in CI), where every one of
 * our front-end and GRU programs must appear with a GPU time. And bench-frontend-webgpu.ts's
 * list of register blocks.
 */
import assert from "node:assert/strict";
import { parseTilings } from "../scripts/bench-frontend-webgpu.ts";
import { programTimes } from "../scripts/profile-webgpu.ts";
import { webgpuOrSkip, webgpuTest } from "./webgpu_adapter.ts";

webgpuOrSkip("profile-webgpu");

Deno.test("profile-webgpu: per-dispatch timings are summed per program, largest first", () => {
  const p = programTimes("Conv2Program: 2.5, SliceProgram: 0.25, SliceProgram: 0.5, Gru: 3");
  assert.deepEqual(p, [
    { name: "Gru", dispatches: 1, ms: 3 },
    { name: "Conv2Program", dispatches: 1, ms: 2.5 },
    { name: "SliceProgram", dispatches: 2, ms: 0.75 },
  ]);
  assert.deepEqual(programTimes(""), []);
  assert.throws(() => programTimes("Conv2Program 2.5"), /cannot read/);
  assert.throws(() => programTimes("Conv2Program: n/a"), /no time/);
});

webgpuTest("profile-webgpu: a training step's programs are timed on the adapter", async () => {
  const out = await new Deno.Command("deno", {
    args: [
      "run",
      "--allow-read",
      "--allow-env=XDG_RUNTIME_DIR",
      "--allow-sys=loadavg",
      "scripts/profile-webgpu.ts",
      "--batch",
      "1",
      "--windows",
      "4",
      "--json",
    ],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!;
  const r = JSON.parse(line) as {
    kernel_ms: number;
    wall_ms: number;
    dispatches: number;
    programs: { name: string; dispatches: number; ms: number }[];
  };
  const names = new Set(r.programs.map((p) => p.name));
  for (
    const ours of [
      "Conv1Program",
      "Conv2Program",
      "Conv2GradProgram",
      "H1GradProgram",
      "Dw2PartialsProgram",
      "Dw1PartialsProgram",
      "GruForwardProgram",
      "GruBackwardProgram",
    ]
  ) {
    assert.ok(names.has(ours), `${ours} is timed (${[...names].join(", ")})`);
  }
  assert.ok(r.programs.every((p) => p.ms >= 0 && p.dispatches >= 1));
  assert.ok(r.kernel_ms > 0 && r.wall_ms > 0);
  assert.equal(r.dispatches, r.programs.reduce((s, p) => s + p.dispatches, 0));
});

Deno.test("bench-frontend-webgpu: --tilings reads PTxNL blocks and refuses anything else", () => {
  assert.deepEqual(parseTilings("4x16, 8x8"), [{ pt: 4, nl: 16 }, { pt: 8, nl: 8 }]);
  assert.throws(() => parseTilings("4by16"), /not PTxNL/);
  assert.throws(() => parseTilings("4x16,"), /not PTxNL/);
});
