/** Argo's Workflow schema as the API server applies it (src/server/argo/schema.ts). */
import { compileArgo } from '../../../src/core/compile/argo.js';
import { workflowSchemaProblem } from '../../../src/server/argo/schema.js';
import { STUB_RUNTIME, loadPlan } from '../../core/compile/support.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function churn(): Json {
  return compileArgo(loadPlan('churn'), { runtimeSource: STUB_RUNTIME }).documents[0] as Json;
}

describe('the Argo Workflow schema', () => {
  it('accepts what the argo target writes', () => {
    expect(workflowSchemaProblem(churn())).toBeNull();
  });

  it("refuses more than 200 templates or DAG tasks, Argo's caps", () => {
    const wf = churn();
    const step = (wf.spec.templates as Json[]).find(t => t.container)!;
    wf.spec.templates.push(
      ...Array.from({ length: 200 }, (_, i) => ({ ...step, name: `extra-${i}` }))
    );
    expect(workflowSchemaProblem(wf)).toBe('spec/templates must NOT have more than 200 items');
    const dagWf = churn();
    const dag = (dagWf.spec.templates as Json[]).find(t => t.dag)!;
    const task = dag.dag.tasks[0];
    dag.dag.tasks = Array.from({ length: 201 }, (_, i) => ({ ...task, name: `t${i}` }));
    expect(workflowSchemaProblem(dagWf)).toBe(
      'spec/templates/0/dag/tasks must NOT have more than 200 items'
    );
  });

  it('refuses unknown fields and wrong types, as strict field validation does', () => {
    const unknown = churn();
    unknown.spec.templates[1].contianer = {};
    expect(workflowSchemaProblem(unknown)).toBe(
      'spec/templates/1 must NOT have additional properties'
    );
    const typed = churn();
    typed.spec.activeDeadlineSeconds = 'soon';
    expect(workflowSchemaProblem(typed)).toBe('spec/activeDeadlineSeconds must be integer');
  });
});
