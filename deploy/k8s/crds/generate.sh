#!/usr/bin/env bash
# Regenerates the CustomResourceDefinitions the manifests are validated against, with the
# generators the projects' own builds use, from their published artifacts:
#   Strimzi       io.strimzi:api + io.strimzi:crd-generator (Maven Central), CrdGenerator
#                 (class files for Java 21+: set JAVA to such a java)
#   CloudNativePG github.com/cloudnative-pg/cloudnative-pg/api/v1, controller-gen (Go modules)
#   KEDA          github.com/kedacore/keda/v2/apis/keda/v1alpha1, controller-gen
#                 (KEDA's Makefile: crd:crdVersions=v1,generateEmbeddedObjectMeta=true)
# Only the kinds the manifests use are kept. Run from the repository root:
#   JAVA=/path/to/java21+/bin/java bash deploy/k8s/crds/generate.sh
set -euo pipefail

STRIMZI=1.2.0
CNPG=v1.27.1
KEDA=v2.18.0
CONTROLLER_TOOLS=v0.19.0  # CloudNativePG's CONTROLLER_TOOLS_VERSION at $CNPG
JAVA=${JAVA:-java}

out=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Strimzi: the CRDs of its release are generated from the api classes by crd-generator.
mkdir -p "$work/strimzi"
cat > "$work/strimzi/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local</groupId><artifactId>crds</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>io.strimzi</groupId><artifactId>api</artifactId><version>$STRIMZI</version></dependency>
    <dependency><groupId>io.strimzi</groupId><artifactId>crd-generator</artifactId><version>$STRIMZI</version></dependency>
  </dependencies>
</project>
EOF
(cd "$work/strimzi" && mvn -q dependency:build-classpath -Dmdep.outputFile=cp.txt)
"$JAVA" -cp "$(cat "$work/strimzi/cp.txt")" io.strimzi.crdgenerator.CrdGenerator \
  --yaml --crd-api-version v1 --api-versions v1 --storage-version v1 --label strimzi.io/crd-install:true \
  io.strimzi.api.kafka.model.kafka.Kafka="$out/strimzi/kafka.yaml" \
  io.strimzi.api.kafka.model.nodepool.KafkaNodePool="$out/strimzi/kafkanodepool.yaml" \
  io.strimzi.api.kafka.model.topic.KafkaTopic="$out/strimzi/kafkatopic.yaml" \
  io.strimzi.api.kafka.model.user.KafkaUser="$out/strimzi/kafkauser.yaml"

# CloudNativePG and KEDA: controller-gen over their API packages, as their Makefiles do.
mkdir -p "$work/go"
cd "$work/go"
cat > go.mod <<EOF
module crdgen

go 1.24
EOF
cat > tools.go <<'EOF'
//go:build tools

package crdgen

import (
	_ "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	_ "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
EOF
GOFLAGS=-mod=mod go get "github.com/cloudnative-pg/cloudnative-pg@$CNPG" "github.com/kedacore/keda/v2@$KEDA" \
  "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS"
go mod tidy
go build -o controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen
./controller-gen crd paths=github.com/cloudnative-pg/cloudnative-pg/api/v1 output:crd:dir=cnpg
./controller-gen crd:crdVersions=v1,generateEmbeddedObjectMeta=true \
  paths=github.com/kedacore/keda/v2/apis/keda/v1alpha1 output:crd:dir=keda
cp cnpg/postgresql.cnpg.io_clusters.yaml cnpg/postgresql.cnpg.io_scheduledbackups.yaml "$out/cloudnative-pg/"
cp keda/keda.sh_scaledobjects.yaml keda/keda.sh_triggerauthentications.yaml "$out/keda/"
echo "CRDs written under $out"
