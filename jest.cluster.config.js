/**
 * The cluster stage (`npm run test:cluster`): tests/cluster against a real control plane that
 * tests/support/cluster starts (etcd, kube-apiserver, Argo's workflow-controller, kwok). One spec
 * file at a time: each runs its own control plane, and the machine has two cores.
 */
import base from './jest.config.js';

export default {
  ...base,
  roots: ['<rootDir>/tests/cluster'],
  testPathIgnorePatterns: ['/node_modules/'],
  maxWorkers: 1,
  testTimeout: 180000
};
