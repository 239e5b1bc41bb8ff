/**
 * Configuration and I/O types of the emotion model family (paper sections 3 and 4.2).
 * Owned by the model stage; training, prediction and export depend only on these.
 * @module
 */
import type { TaskSpec } from "../corpus/types.ts";

/** How a task turns the GRU output sequence into one utterance vector. */
export type Pooling = "last" | "attention";

/** Which tfjs backend to run on. `auto` picks the best one available. */
export type BackendName = "auto" | "tensorflow" | "webgpu" | "wasm" | "cpu";

/** What the recurrent part reads. */
export type InputSpec =
  /** Raw standardised audio, framed into windows by the model (end-to-end systems). */
  | { kind: "raw"; windowSamples: number; hopSamples: number }
  /** A frame-level feature sequence of `dim` values per frame (e.g. eGeMAPS LLDs for OS+RNN). */
  | { kind: "features"; dim: number };

/** Full configuration of one model; stored with every saved model. */
export interface ModelConfig {
  /** Tasks predicted by this model: one task for STL, several for MTL. */
  tasks: TaskSpec[];
  /** Pooling per utterance, shared by all tasks of the model. */
  pooling: Pooling;
  /** Input type. */
  input: InputSpec;
  /** CNN front-end (raw input only): paper defaults 40 filters, width 40, pool 2, channel pool 10. */
  conv: { filters: number; kernel: number; pool: number; channelPool: number };
  /** Recurrent part: paper defaults 2 layers × 128 GRU units. */
  gru: { units: number; layers: number };
  /** Keep probability of the dropout after the CNN (paper: 0.9). */
  dropoutKeep: number;
  /** Seed for weight initialisation and dropout masks. */
  seed: number;
}

/** A model input batch, as tensors-to-be. */
export interface ModelInput {
  /** Raw input: standardised samples `[batch, samplesPerRow]` (see frames `Batch`). */
  signal?: Float32Array;
  /** Feature input: `[batch, windows, dim]` row-major. */
  features?: Float32Array;
  /** Rows in the batch. */
  batchSize: number;
  /** Windows (frames) per row including padding. */
  windows: number;
  /** Real windows per row. */
  lengths: Int32Array;
}
