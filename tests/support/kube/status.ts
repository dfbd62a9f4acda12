/**
 * `Status` bodies exactly as kube-apiserver writes them (kind: Status, apiVersion: v1, metadata: {},
 * status: Failure, message, reason, details, code), and the error type the server throws to send one.
 */

export interface IStatusCause {
  reason?: string;
  message: string;
  field?: string;
}

export interface IStatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: IStatusCause[];
  retryAfterSeconds?: number;
}

export interface IStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: IStatusDetails;
  code: number;
}

/** Thrown inside the server; the HTTP layer turns it into a Status response. */
export class StatusError extends Error {
  readonly status: IStatus;
  readonly headers: Record<string, string>;

  constructor(status: IStatus, headers: Record<string, string> = {}) {
    super(status.message ?? status.reason ?? String(status.code));
    this.status = status;
    this.headers = headers;
  }
}

/** What a resource is called in messages: `pods`, `workflows.argoproj.io`. */
export function qualifiedResource(group: string, plural: string): string {
  return group === '' ? plural : `${plural}.${group}`;
}

/** `Workflow.argoproj.io` / `Pod` — used by 422 messages. */
export function qualifiedKind(group: string, kind: string): string {
  return group === '' ? kind : `${kind}.${group}`;
}

export function failure(
  code: number,
  reason: string,
  message: string,
  details?: IStatusDetails
): IStatus {
  const status: IStatus = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code
  };
  if (details !== undefined) {
    status.details = details;
  }
  return status;
}

function groupDetails(name: string | undefined, group: string, kind: string): IStatusDetails {
  const details: IStatusDetails = {};
  if (name !== undefined && name !== '') {
    details.name = name;
  }
  if (group !== '') {
    details.group = group;
  }
  details.kind = kind;
  return details;
}

export function notFound(group: string, plural: string, name: string): StatusError {
  return new StatusError(
    failure(
      404,
      'NotFound',
      `${qualifiedResource(group, plural)} "${name}" not found`,
      groupDetails(name, group, plural)
    )
  );
}

/** What the server says for a path it does not serve (e.g. a CRD that is not installed). */
export function pathNotFound(): StatusError {
  return new StatusError(
    failure(404, 'NotFound', 'the server could not find the requested resource', {})
  );
}

export function alreadyExists(group: string, plural: string, name: string): StatusError {
  return new StatusError(
    failure(
      409,
      'AlreadyExists',
      `${qualifiedResource(group, plural)} "${name}" already exists`,
      groupDetails(name, group, plural)
    )
  );
}

export function conflict(group: string, plural: string, name: string): StatusError {
  return new StatusError(
    failure(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${qualifiedResource(group, plural)} "${name}": ` +
        'the object has been modified; please apply your changes to the latest version and try again',
      groupDetails(name, group, plural)
    )
  );
}

export function invalid(
  group: string,
  kind: string,
  name: string,
  causes: IStatusCause[]
): StatusError {
  const rendered = causes.map(c => (c.field ? `${c.field}: ${c.message}` : c.message));
  const summary = rendered.length === 1 ? rendered[0] : `[${rendered.join(', ')}]`;
  return new StatusError(
    failure(422, 'Invalid', `${qualifiedKind(group, kind)} "${name}" is invalid: ${summary}`, {
      ...groupDetails(name, group, kind),
      causes
    })
  );
}

export function badRequest(message: string): StatusError {
  return new StatusError(failure(400, 'BadRequest', message));
}

export function unauthorized(): StatusError {
  return new StatusError(failure(401, 'Unauthorized', 'Unauthorized'));
}

export function forbidden(options: {
  user: string;
  verb: string;
  group: string;
  plural: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}): StatusError {
  const { user, verb, group, plural, subresource, namespace, name } = options;
  const resource = subresource ? `${plural}/${subresource}` : plural;
  const subject =
    name !== undefined && name !== ''
      ? `${qualifiedResource(group, plural)} "${name}" is forbidden`
      : `${qualifiedResource(group, plural)} is forbidden`;
  const scope = namespace ? ` in the namespace "${namespace}"` : ' at the cluster scope';
  return new StatusError(
    failure(
      403,
      'Forbidden',
      `${subject}: User "${user}" cannot ${verb} resource "${resource}" in API group "${group}"${scope}`,
      groupDetails(name, group, plural)
    )
  );
}

export function internalError(message: string): StatusError {
  return new StatusError(
    failure(500, 'InternalError', `Internal error occurred: ${message}`, {
      causes: [{ message }]
    })
  );
}

export function unsupportedMediaType(accepted: string[]): StatusError {
  return new StatusError(
    failure(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
      {}
    )
  );
}

export function methodNotAllowed(method: string): StatusError {
  return new StatusError(
    failure(
      405,
      'MethodNotAllowed',
      `the server does not allow this method on the requested resource`,
      {
        causes: [{ message: `method ${method}` }]
      }
    )
  );
}
