/**
 * The library's one error type. Every check at the public boundary throws an `HsrError` whose
 * `code` a caller can switch on and whose message states what was expected and what came.
 * Kernels and inner loops never validate; they trust what the boundary let through.
 */
export type HsrErrorCode =
  | 'SHAPE_MISMATCH'     // lengths / rows / cols disagree with each other
  | 'DIM_MISMATCH'       // a vector's dimension differs from the index's or cache's
  | 'NON_FINITE'         // NaN or ±Infinity where finite numbers are required
  | 'BAD_OPTION'         // an option is missing, of the wrong type or out of range
  | 'BAD_DTYPE'          // a tensor's element type is not one we read or expected
  | 'MALFORMED_FILE'     // a file's header or layout is inconsistent or truncated
  | 'NOT_FOUND'          // a named tensor, file or model part does not exist
  | 'UNSUPPORTED'        // a valid request this build cannot serve
  | 'TOO_LARGE'          // a size from input or options exceeds what we allocate (see the limit in the message)
  | 'IO_ERROR'           // a file or folder cannot be read or written (a directory, permissions, …)
  | 'CLOSED'             // the object was closed and refuses further work
  | 'WORKER_FAILED'      // a worker thread threw, exited or did not answer in time
  | 'DEVICE_LOST';       // the GPU device was lost (driver reset, device.destroy(), …): objects on it refuse work

export class HsrError extends Error {
  readonly code: HsrErrorCode;
  constructor(code: HsrErrorCode, message: string) {
    super(message);
    this.name = 'HsrError';
    this.code = code;
  }
}
