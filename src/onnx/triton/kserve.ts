/**
 * A KServe InferenceService for the Triton model repository of ./repository.ts: KServe's Triton runtime
 * serves the repository from `storageUri` over the Open Inference Protocol (v2), tritonserver started
 * with a response cache (the context stage's cache). Written as YAML text: the manifest is small and fixed.
 */

export interface InferenceServiceOptions {
  /** The Triton ensemble's name (the service's name is it made a DNS-1123 label). */
  readonly name: string;
  readonly storageUri: string;
  readonly device: 'cpu' | 'gpu';
  readonly cacheMb: number;
}

/** A Kubernetes object name: lower-case letters, digits and '-', at most 63, starting and ending alphanumeric. */
export function dnsLabel(name: string): string {
  const label = name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
  return label === '' ? 'rankaware' : label;
}

const yamlString = (s: string) => JSON.stringify(s);

export function inferenceServiceYaml(o: InferenceServiceOptions): string {
  const gpu = o.device === 'gpu';
  return `# KServe InferenceService for the Triton model repository this file sits in (rankaware export-triton).
# Copy the repository to storageUri, then: kubectl apply -f ${'inferenceservice.yaml'}
# Clients POST to /v2/models/${o.name}/infer (Open Inference Protocol); docs/server.md.
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: ${dnsLabel(o.name)}
spec:
  predictor:
    model:
      modelFormat:
        name: triton
      protocolVersion: v2
      storageUri: ${yamlString(o.storageUri)}
      args:
        # The context stage's response cache: a returning context skips it.
        - ${yamlString(`--cache-config=local,size=${Math.round(o.cacheMb * 1024 * 1024)}`)}
      resources:
        requests:
          cpu: "1"
          memory: 1Gi${gpu ? '\n          nvidia.com/gpu: "1"' : ''}
        limits:
          cpu: "2"
          memory: 2Gi${gpu ? '\n          nvidia.com/gpu: "1"' : ''}
`;
}
