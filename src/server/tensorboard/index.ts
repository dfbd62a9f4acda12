export { LocalTensorBoards, TensorBoardError } from './local.js';
export type { ILocalTensorBoards, ITensorBoardHandle, TensorBoardErrorCode } from './local.js';
export {
  ClusterTensorBoards,
  ClusterTensorBoardError,
  TENSORBOARDS,
  isReady,
  kubeflowTensorBoardUrl,
  pvcLogsPath,
  servesTensorboards,
  tensorBoardManifest
} from './cluster.js';
export type { IClusterTensorBoard } from './cluster.js';
export { findLogDirs, logDirSpec, runLogDirs, CONVENTIONAL_DIRS } from './logdirs.js';
export type { ILogDir } from './logdirs.js';
export { tensorBoardArgs } from './launcher.js';
export { TensorBoardRequestError, TensorBoardService } from './service.js';
export type { ITensorBoardCluster, TensorBoardRequestErrorCode } from './service.js';
