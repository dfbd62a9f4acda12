/**
 * The harness's own requests to the API server, as the cluster admin (client certificate in
 * system:masters): set-up, and reading what Argo and kwok did. Chard itself never uses this; it
 * goes through a kubeconfig like a user.
 */
import { request } from 'node:https';

export interface IAdminOptions {
  url: string;
  ca: string;
  cert: string;
  key: string;
}

export class AdminError extends Error {
  readonly status: number;
  readonly body: string;
  constructor(method: string, path: string, status: number, body: string) {
    super(`${method} ${path}: HTTP ${status}: ${body.slice(0, 600)}`);
    this.status = status;
    this.body = body;
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export class Admin {
  private readonly _o: IAdminOptions;

  constructor(options: IAdminOptions) {
    this._o = options;
  }

  raw(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json'
  ): Promise<{ status: number; text: string; headers: Record<string, string | string[]> }> {
    const url = new URL(path, this._o.url);
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          ca: this._o.ca,
          cert: this._o.cert,
          key: this._o.key,
          headers: {
            accept: 'application/json',
            ...(data === undefined
              ? {}
              : { 'content-type': contentType, 'content-length': Buffer.byteLength(data) })
          },
          timeout: 60000
        },
        res => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              text: Buffer.concat(chunks).toString('utf8'),
              headers: res.headers as Record<string, string | string[]>
            })
          );
          res.on('error', reject);
        }
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on('error', reject);
      req.end(data);
    });
  }

  async json(method: string, path: string, body?: unknown, contentType?: string): Promise<Json> {
    const res = await this.raw(method, path, body, contentType);
    if (res.status < 200 || res.status >= 300) {
      throw new AdminError(method, path, res.status, res.text);
    }
    return res.text ? JSON.parse(res.text) : {};
  }

  get(path: string): Promise<Json> {
    return this.json('GET', path);
  }

  post(path: string, body: unknown): Promise<Json> {
    return this.json('POST', path, body);
  }

  /** Create, or leave alone when it exists (409). */
  async ensure(path: string, body: unknown): Promise<void> {
    const res = await this.raw('POST', path, body);
    if (res.status !== 409 && (res.status < 200 || res.status >= 300)) {
      throw new AdminError('POST', path, res.status, res.text);
    }
  }

  mergePatch(path: string, body: unknown): Promise<Json> {
    return this.json('PATCH', path, body, 'application/merge-patch+json');
  }

  async delete(path: string): Promise<void> {
    const res = await this.raw('DELETE', path);
    if (res.status !== 404 && (res.status < 200 || res.status >= 300)) {
      throw new AdminError('DELETE', path, res.status, res.text);
    }
  }
}

/** Thrown by a probe to stop `until` at once (a component died). */
export class FatalError extends Error {}

/**
 * Poll `probe` until it returns a value (not undefined), or throw `what` after `timeoutMs`.
 * Errors thrown by the probe count as "not yet", except a FatalError.
 */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60000,
  everyMs = 200
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) {
        return value;
      }
    } catch (error) {
      if (error instanceof FatalError) {
        throw error;
      }
      last = error;
    }
    if (Date.now() > end) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}` +
          (last ? `: ${last instanceof Error ? last.message : String(last)}` : '')
      );
    }
    await new Promise(resolve => setTimeout(resolve, everyMs));
  }
}
