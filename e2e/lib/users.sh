# shellcheck shell=bash
# e2e/lib/users.sh: the suites' identities, sourced by e2e/run-local and e2e/run-kind
# so that both clusters have the same users and contexts:
#   operator_kubeconfig OUT RELEASE NS  a kubeconfig holding a token of the chart's
#                                       ServiceAccount (RELEASE in NS): what the
#                                       operator runs with, RBAC enforced
#   csr_user NAME SUBJECT DIR           a client certificate for SUBJECT, signed by
#                                       the cluster's CA through the
#                                       CertificateSigningRequest API, and a context
#                                       NAME in the current kubeconfig
# Both need kubectl on PATH and KUBECONFIG pointing at the cluster's admin.

operator_kubeconfig() {
  local out=$1 release=$2 ns=$3 user
  kubectl config view --raw --minify --flatten >"$out"
  user=$(kubectl --kubeconfig "$out" config view -o jsonpath='{.contexts[0].context.user}')
  kubectl --kubeconfig "$out" config unset "users.$user" >/dev/null
  kubectl --kubeconfig "$out" config set-credentials "$user" \
    --token="$(kubectl create token "$release" -n "$ns" --duration=24h)" >/dev/null
  if kubectl --kubeconfig "$out" auth can-i create pods -n default >/dev/null 2>&1; then
    echo "operator_kubeconfig: the chart's ServiceAccount may create pods: its token is not what the operator should run with" >&2
    return 1
  fi
}

csr_user() {
  local name=$1 subject=$2 dir=$3 csr=mapek-e2e-$1 cluster cert=
  mkdir -p "$dir"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$dir/$name.key" -subj "$subject" \
    -out "$dir/$name.csr" 2>/dev/null
  kubectl delete csr "$csr" --ignore-not-found >/dev/null
  kubectl apply -f - >/dev/null <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: $csr
spec:
  request: $(base64 -w0 <"$dir/$name.csr")
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 86400
  usages: [client auth]
YAML
  kubectl certificate approve "$csr" >/dev/null
  for _ in $(seq 1 60); do
    cert=$(kubectl get csr "$csr" -o jsonpath='{.status.certificate}')
    [[ -z $cert ]] || break
    sleep 1
  done
  [[ -n $cert ]] || { echo "csr_user: $csr was approved but not signed within 60 s" >&2; return 1; }
  base64 -d <<<"$cert" >"$dir/$name.crt"
  cluster=$(kubectl config view --minify -o jsonpath='{.contexts[0].context.cluster}')
  kubectl config set-credentials "$name" --client-certificate="$dir/$name.crt" \
    --client-key="$dir/$name.key" --embed-certs=true >/dev/null
  kubectl config set-context "$name" --cluster="$cluster" --user="$name" \
    --namespace=default >/dev/null
}
