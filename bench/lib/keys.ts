// The decode workloads live in the library (the `hsr-attn bench` command uses them too):
// synthetic ones in the browser-safe core, the real dumps' loading in src/node/.
export { syntheticWorkload, dumpWorkload, calibrateReluBias, referenceDecode, denseDecodeBytes, sparseDecodeBytes, type Workload } from '../../src/report/workloads.js';
export { dataFile, realWorkload } from '../../src/node/workloads.js';
