/**
 * Registers the gradient functions of every tfjs-core op.
 *
 * tfjs-core's Node build (the one Deno loads) registers no gradients; the registrations live in
 * ESM files with extension-less imports that Deno cannot resolve, and in the union package
 * `@tensorflow/tfjs`, whose Node bundle registers them into the shared tfjs-core registry when
 * imported. Training imports this module; inference (and loading a saved model in a browser)
 * needs only tfjs-core.
 * @module
 */
import "@tensorflow/tfjs";
