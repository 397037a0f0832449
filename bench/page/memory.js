// Records every WebAssembly.Memory the page creates or instantiates, so the bench can report
// each runtime's wasm memory (a memory never shrinks: its size after the runs is its peak).
// Emscripten builds with threads create theirs in JS; wasm-bindgen's and the plain Emscripten
// builds export theirs from the instance. Both ways are caught here.
(() => {
  const memories = new Set();
  globalThis.benchWasmMemories = memories;
  const collect = (instance) => {
    for (const value of Object.values(instance?.exports ?? {})) {
      if (value instanceof WebAssembly.Memory) memories.add(value);
    }
  };
  const NativeMemory = WebAssembly.Memory;
  WebAssembly.Memory = new Proxy(NativeMemory, {
    construct(target, args) {
      const memory = new target(...args);
      memories.add(memory);
      return memory;
    },
  });
  for (const name of ['instantiate', 'instantiateStreaming']) {
    const original = WebAssembly[name];
    WebAssembly[name] = async function (...args) {
      const result = await original.apply(this, args);
      collect(result instanceof WebAssembly.Instance ? result : result.instance);
      return result;
    };
  }
  const NativeInstance = WebAssembly.Instance;
  WebAssembly.Instance = new Proxy(NativeInstance, {
    construct(target, args) {
      const instance = new target(...args);
      collect(instance);
      return instance;
    },
  });
  globalThis.benchWasmBytes = () => [...memories].reduce((sum, m) => sum + m.buffer.byteLength, 0);
})();
