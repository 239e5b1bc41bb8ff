/**
 * WebGPU errors made loud (lib/model/webgpu_errors.ts, installed by `initBackend("webgpu")`): a
 * program the device cannot run, which WebGPU reports only as an event while tfjs reads back
 * zeros, makes the next read throw with the device's message; later reads work again.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/model/backend.ts";
import { bindingLimit } from "../lib/model/webgpu_program.ts";
import { watchWebGpuErrors } from "../lib/model/webgpu_errors.ts";
import { webgpuOrSkip, webgpuTest } from "./webgpu_adapter.ts";

webgpuOrSkip("webgpu errors");

webgpuTest(
  "webgpu errors: work the device leaves undone makes the next read throw, with its reason",
  async () => {
    await initBackend("webgpu");
    const log = watchWebGpuErrors();
    assert.equal(watchWebGpuErrors(), log, "initBackend installed it; installed once");
    // A tensor one float past what a program may bind: tfjs's programs bind it anyway, and
    // WebGPU leaves them undone (the sum would read 0).
    const n = bindingLimit() / 4 + 1;
    const before = log.messages.length;
    const sum = tf.tidy(() => tf.sum(tf.mul(tf.ones([n]), 2)));
    await assert.rejects(
      () => sum.data(),
      /webgpu: the device reported \d+ errors? since the last read, so values computed since then cannot be trusted: GPUValidationError: .*binding/,
    );
    sum.dispose();
    assert.ok(log.messages.length > before);
    assert.equal(log.reported, log.messages.length, "each error is thrown for once");
    // Work within the limits reads normally again.
    const small = tf.sum(tf.ones([10]));
    assert.equal((await small.data())[0], 10);
    small.dispose();
  },
);
