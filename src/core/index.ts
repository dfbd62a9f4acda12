export * from './plan.js';
export * from './notebook.js';
export * from './tags.js';
export * from './stepspec.js';
export * from './runs.js';
