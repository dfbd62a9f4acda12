/**
 * The OpenAPI document (schema/openapi.yaml) as a checker of answers, and a small client of the
 * backend's socket that checks every answer it gets against the document (server-sent events:
 * each event's data against the operation's `x-chard-event-data` schema).
 */
import * as fs from 'node:fs';
import http from 'node:http';
import * as path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import YAML from 'yaml';

import { SECRET_HEADER } from '../../../src/core/httpapi.js';

type Json = Record<string, unknown>;

const DOC_ID = 'openapi.yaml';
export const OPENAPI = YAML.parse(
  fs.readFileSync(path.join(process.cwd(), 'schema/openapi.yaml'), 'utf8')
) as Json;

const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema(OPENAPI, DOC_ID);
const compiled = new Map<string, ValidateFunction>();

/** A schema of the document, compiled with its `#/...` references pointing into the document. */
function validator(schema: unknown): ValidateFunction {
  const text = JSON.stringify(schema).replace(/"#\//g, `"${DOC_ID}#/`);
  let validate = compiled.get(text);
  if (!validate) {
    validate = ajv.compile(JSON.parse(text) as Json);
    compiled.set(text, validate);
  }
  return validate;
}

/** The route template of a concrete path (`/chard/api/runs/X/events` -> `.../{id}/events`). */
export function template(urlPath: string): string {
  const templates = Object.keys(OPENAPI.paths as Json);
  const parts = urlPath.split('/');
  const found = templates.find(t => {
    const want = t.split('/');
    return (
      want.length === parts.length && want.every((w, i) => w.startsWith('{') || w === parts[i])
    );
  });
  if (!found) {
    throw new Error(`${urlPath}: not in the OpenAPI document`);
  }
  return found;
}

interface IMediaType {
  schema?: unknown;
  'x-chard-event-data'?: unknown;
}

function mediaType(method: string, urlPath: string, status: number, type: string): IMediaType {
  const operation = ((OPENAPI.paths as Json)[template(urlPath)] as Json)[method.toLowerCase()] as
    Json | undefined;
  if (!operation) {
    throw new Error(`${method} ${urlPath}: no such operation in the OpenAPI document`);
  }
  const responses = operation.responses as Json;
  let response = (responses[String(status)] ?? responses.default) as Json | undefined;
  if (!response) {
    throw new Error(`${method} ${urlPath}: status ${status} is not documented`);
  }
  if (typeof response.$ref === 'string') {
    const name = response.$ref.split('/').pop() as string;
    response = ((OPENAPI.components as Json).responses as Json)[name] as Json;
  }
  const content = (response.content ?? {}) as Record<string, IMediaType>;
  const media = content[type];
  if (!media) {
    throw new Error(`${method} ${urlPath} ${status}: ${type} is not documented`);
  }
  return media;
}

/** Throws unless `body` is what the document says `method urlPath` answers with `status`. */
export function checkAnswer(method: string, urlPath: string, status: number, body: unknown): void {
  // An undocumented method or path may only be answered with the documented error body.
  const documented = ((OPENAPI.paths as Json)[template(urlPath)] as Json)[method.toLowerCase()];
  const schema =
    documented === undefined && status >= 400
      ? { $ref: '#/components/schemas/IApiError' }
      : mediaType(method, urlPath, status, 'application/json').schema;
  const validate = validator(schema);
  if (!validate(body)) {
    throw new Error(
      `${method} ${urlPath} ${status}: the answer does not match the OpenAPI document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`
    );
  }
}

export function checkEventData(method: string, urlPath: string, data: unknown): void {
  const media = mediaType(method, urlPath, 200, 'text/event-stream');
  const validate = validator(media['x-chard-event-data']);
  if (!validate(data)) {
    throw new Error(
      `${method} ${urlPath}: an event does not match the OpenAPI document: ${ajv.errorsText(validate.errors)}`
    );
  }
}

export interface IAnswer<T = unknown> {
  status: number;
  body: T;
}

export interface ISseEvent {
  id: string | undefined;
  event: string;
  data: unknown;
}

/** A client of the backend on its socket, with its secret; every answer checked. */
export class BackendClient {
  constructor(
    readonly socket: string,
    readonly secret: string
  ) {}

  request<T = unknown>(method: string, url: string, body?: unknown): Promise<IAnswer<T>> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { [SECRET_HEADER]: this.secret };
      if (body !== undefined) {
        headers['Content-Type'] = 'application/json';
      }
      const req = http.request({ socketPath: this.socket, method, path: url, headers }, res => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            const status = res.statusCode ?? 0;
            const parsed = JSON.parse(Buffer.concat(chunks).toString()) as T;
            checkAnswer(method, new URL(url, 'http://x').pathname, status, parsed);
            resolve({ status, body: parsed });
          } catch (error) {
            reject(error as Error);
          }
        });
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  /**
   * Follows an event stream to its end (or until `stop` says so, or `signal` aborts); each event
   * is checked and handed to `onEvent` as it arrives.
   */
  stream(
    url: string,
    options: {
      lastEventId?: string;
      onEvent?: (event: ISseEvent) => void;
      stop?: (event: ISseEvent) => boolean;
    } = {}
  ): Promise<{ status: number; events: ISseEvent[]; comments: string[] }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = {
        [SECRET_HEADER]: this.secret,
        Accept: 'text/event-stream'
      };
      if (options.lastEventId !== undefined) {
        headers['Last-Event-ID'] = options.lastEventId;
      }
      const urlPath = new URL(url, 'http://x').pathname;
      const events: ISseEvent[] = [];
      const comments: string[] = [];
      const req = http.request({ socketPath: this.socket, path: url, headers }, res => {
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const body = JSON.parse(Buffer.concat(chunks).toString()) as unknown;
            checkAnswer('GET', urlPath, res.statusCode ?? 0, body);
            resolve({ status: res.statusCode ?? 0, events, comments });
          });
          return;
        }
        let buffer = '';
        let done = false;
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          buffer += text;
          let end: number;
          while (!done && (end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const fields: Record<string, string> = {};
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) {
                comments.push(line.slice(1).trim());
                continue;
              }
              const colon = line.indexOf(':');
              fields[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, '');
            }
            if (fields.event === undefined) {
              continue;
            }
            const data = JSON.parse(fields.data) as unknown;
            if (fields.event !== 'error') {
              checkEventData('GET', urlPath, data);
            }
            const event = { id: fields.id, event: fields.event, data };
            events.push(event);
            options.onEvent?.(event);
            if (options.stop?.(event)) {
              done = true;
              req.destroy();
              resolve({ status: 200, events, comments });
            }
          }
        });
        res.on('end', () => resolve({ status: 200, events, comments }));
        res.on('error', error => (done ? undefined : reject(error)));
      });
      req.on('error', reject);
      req.end();
    });
  }
}
