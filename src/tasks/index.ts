// Long-range retrieval tasks and their evaluation: re-exports only.
export { TASK_KINDS, makeTrial, makeTrials, type TaskKind, type TaskTrial, type TrialOptions } from './trials.js';
export { evaluateTask, reportsErrorBound, type TaskOptions, type TaskResult, type TrialOutcome } from './evaluate.js';
