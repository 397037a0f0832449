// What a page (the client and its pool) and a model worker (worker.js) say to each other:
// structured-clone messages, typed here once so that both ends are checked against the same
// words (`scripts/lint.sh` runs tsc over www/). A module of types and a few constants only: no
// behaviour, so either end may import it without pulling in the other.
//
//   page → worker   a Request with an `id` (PostedRequest), or a Cancel. A worker runs its
//                   requests one at a time, in the order they came.
//   worker → page   Busy when it starts a request, then Result or Failure for it; Progress and
//                   Status while it loads (not tied to a request); Crashed when its wasm
//                   instance died, after which it answers every request with a Failure and the
//                   page replaces it.
//
// The worker fetches only http(s) URLs on its own origin unless a load says `allowCrossOrigin`,
// and at most 64 MiB per resource (the wasm, the model, the catalogue index).

/** How many similar posters a result lists when the page does not say. */
export const SIMILAR_POSTERS = 6;
/** The most similar posters a result lists, whatever the page asks for. */
export const MAX_SIMILAR_POSTERS = 50;

// ---- words both ends use ----------------------------------------------------------------------

/** @typedef {'auto' | 'cpu' | 'webgpu'} Backend  what a page asks for */
/** @typedef {'cpu' | 'webgpu'} Build  a wasm build (the WebGPU one also runs the CPU) */
/** @typedef {'wasm' | 'model' | 'index'} Resource  what a worker downloads */
/**
 * @typedef {'downloading' | 'compiling' | 'warming-up' | 'ready' | 'restarting' | 'failed'} Phase
 *   a load's progress; the worker reports compiling and warming-up, the client the others
 */

// ---- page → worker ----------------------------------------------------------------------------

/**
 * Loads a wasm build and a bundle (each fetched once, then read from the Cache API), and
 * optionally a catalogue index. Answered with a LoadInfo.
 * @typedef {object} LoadRequest
 * @property {'load'} type
 * @property {string} wasmUrl the CPU build's `onesheet_bg.wasm` (its relaxed-SIMD compilation,
 *   `onesheet_relaxed_bg.wasm`, is looked for beside it)
 * @property {string | null} [webgpuWasmUrl] the WebGPU build; null when the site has none
 * @property {boolean} [relaxedSimd] false: never the relaxed-SIMD compilation (default true)
 * @property {string} modelUrl the bundle
 * @property {Backend} backend
 * @property {Build | null} [build] which build runs 'cpu' (default the CPU one): the pool's
 *   later workers run the one the first loaded
 * @property {boolean} [allowCrossOrigin] default false: every URL on the worker's origin
 * @property {string | null} [indexUrl] a catalogue index (`onesheet index`)
 * @property {number} [similarCount] similar posters per result (default SIMILAR_POSTERS, at
 *   most MAX_SIMILAR_POSTERS)
 */

/**
 * Classifies one image: its file's bytes (JPEG, PNG, WebP…) or raw RGBA pixels. `year`, the
 * release year when known (a number or a numeric string), refines the genres. Answered with a
 * ClassifyResult.
 * @typedef {{ type: 'classify', bytes: ArrayBuffer, year?: number | string }
 *   | { type: 'classify', rgba: ArrayBuffer, width: number, height: number, year?: number | string }}
 *   ClassifyRequest
 */

/**
 * A deliberate Rust panic, for the tests: only wasm built with the `testing` feature has it
 * (any other answers with a Failure). Answered with Crashed.
 * @typedef {{ type: 'panic-for-testing' }} PanicRequest
 */

/** @typedef {LoadRequest | ClassifyRequest | PanicRequest} Request */
/** @typedef {Request & { id: number }} PostedRequest  the page numbers each request it posts */

/**
 * Request `id` was aborted: if it has not started, the worker answers it with a Failure at
 * once instead of running it (a request already running runs on, its answer unread).
 * @typedef {{ type: 'cancel', id: number }} Cancel
 */

/** @typedef {PostedRequest | Cancel} ToWorker */

// ---- worker → page ----------------------------------------------------------------------------

/** @typedef {{ type: 'busy', id: number }} Busy  the worker started request `id` */
/** @typedef {{ type: 'result', id: number, value: Answer<Request> }} Result */
/** @typedef {{ type: 'error', id: number, message: string }} Failure  request `id` failed */
/**
 * Bytes of a download so far (`cached`: read from the Cache API, not the network).
 * @typedef {{ type: 'progress', resource: Resource, loaded: number, total: number, cached: boolean }} Progress
 */
/** @typedef {{ type: 'status', phase: Phase, backend?: Backend }} Status */
/** @typedef {{ type: 'crashed', message: string }} Crashed  the wasm instance is dead */

/** @typedef {Busy | Result | Failure | Progress | Status | Crashed} FromWorker */

/**
 * What each request is answered with.
 * @typedef {{ load: LoadInfo, classify: ClassifyResult, 'panic-for-testing': void }} Answers
 */
/**
 * @template {Request} R
 * @typedef {Answers[R['type']]} Answer
 */

// ---- what the answers hold (the objects of the wasm build's API) ----------------------------

/**
 * A loaded model: what a load answers and the client's `ready` resolves to.
 * @typedef {object} LoadInfo
 * @property {'cpu' | 'webgpu'} backend the backend that runs it
 * @property {Selection} selection how it was chosen
 * @property {Build} build the wasm build that runs it
 * @property {'relaxed-simd' | 'simd128'} simd the compilation the wasm runs
 * @property {Manifest} manifest
 * @property {{ wasm: Download | null, model: Download | null }} downloads what this load
 *   fetched (null: already there)
 * @property {{ wasmMs?: number, modelMs?: number, totalMs?: number }} timing milliseconds from
 *   the load request: the wasm compiled, the bundle read, the model ready
 * @property {Catalogue | null} catalogue the index, when one was asked for
 */

/** @typedef {{ url: string, bytes: number, cached: boolean }} Download */

/**
 * @typedef {object} Selection
 * @property {Backend} requested
 * @property {'cpu' | 'webgpu'} backend
 * @property {string} reason why this backend
 * @property {number} loadMs
 * @property {number} decodersMs
 * @property {{ cpu?: Trial, webgpu?: Trial }} trials
 * @property {boolean} [provisional] `auto` fell back to the CPU for a reason that may pass
 *   (the WebGPU build could not be had): not to be remembered
 * @property {boolean} [remembered] the client loaded the backend `auto` chose on an earlier visit
 */

/** @typedef {{ firstMs: number, warmMs: number | null }} Trial */

/**
 * The bundle's manifest, as far as the pages read it.
 * @typedef {object} Manifest
 * @property {string} architecture
 * @property {{ id: number, name: string, threshold: number }[]} genres in the model's order
 * @property {string} weights_dtype
 * @property {{ trained: boolean, training_data: string, [key: string]: unknown }} provenance
 */

/**
 * A catalogue index the worker loaded (`posters` in it, `thumbnails` the pattern of their
 * pictures' names), or why it could not (`error`).
 * @typedef {{ url: string, posters?: number, thumbnails?: string | null, error?: string }} Catalogue
 */

/**
 * One poster's result.
 * @typedef {object} ClassifyResult
 * @property {'cpu' | 'webgpu'} backend
 * @property {Record<string, number>} scores every genre's score, in the model's order
 * @property {string[]} genres the predicted genres, best first (never empty)
 * @property {Record<string, boolean>} decisions whether each genre is predicted
 * @property {Explain} explain the predicted genres' maps
 * @property {SimilarPoster[]} [similar] with a catalogue index
 * @property {number} [year] the year the scores were refined with
 * @property {{ decodeMs: number, inferMs: number, searchMs?: number, totalMs: number }} timing
 */

/**
 * Where the model saw each predicted genre: `maps[genre]` has `height` rows of `width` cells.
 * @typedef {{ width: number, height: number, maps: Record<string, number[][]> }} Explain
 */

/**
 * A catalogue poster like the one classified (`thumbnail`: an absolute URL of its picture).
 * @typedef {{ file: string, score: number, thumbnail?: string }} SimilarPoster
 */
