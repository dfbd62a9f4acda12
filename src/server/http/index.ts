export { createApiServer } from './server.js';
export type { IApiServerOptions, IRequestCounters } from './server.js';
export { apiRoutes } from './routes.js';
export { runRoutes } from './runs.js';
export type { IRoutesOptions } from './routes.js';
export { HttpError, findRoute } from './router.js';
export type {
  HttpMethod,
  IRequestContext,
  IRoute,
  IRouteResult,
  IServerSentEvent
} from './router.js';
export { resolveInsideRoot } from './paths.js';
