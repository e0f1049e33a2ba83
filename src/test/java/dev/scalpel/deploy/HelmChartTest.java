package dev.scalpel.deploy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.bind.PropertySourcesPlaceholdersResolver;
import org.springframework.boot.context.properties.source.ConfigurationPropertySources;
import org.springframework.boot.env.ConfigTreePropertySource;
import org.springframework.boot.env.YamlPropertySourceLoader;
import org.springframework.core.env.MutablePropertySources;
import org.springframework.core.io.ByteArrayResource;

import dev.scalpel.security.SecurityProperties;
import dev.scalpel.slot.QueueProperties;
import dev.scalpel.slot.SlotProperties;
import dev.scalpel.stream.StreamProperties;
import dev.scalpel.upstream.ProviderProperties;
import dev.scalpel.upstream.UpstreamProperties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The Helm chart, linted and rendered in the JVM (helm-java runs Helm's own Go code): for the default
 * values and for each {@code helm/scalpel/ci/*-values.yaml}, the rendered objects are checked — probes,
 * ports, security context, grace period against the drain, and the ConfigMap's
 * {@code application.yaml} bound with the application's own property classes.
 */
class HelmChartTest {

	static final Path CHART = Path.of("helm", "scalpel");

	private static final String RELEASE = "demo";

	private static final String FULLNAME = "demo-scalpel";

	/** The hashes of ci/security-values.yaml's keys: sk-test-chart and sk-test-chart-admin. */
	static final String WEB_BACKEND_SHA256 = "eb988656f1c3a0d4986002d4acdd8ed2a7bf479383fd05afbd6b28f1312d0071";

	static final String OPS_SHA256 = "992c5d3a74c1c75d421064b90e7ffe029a2914c44f99706115df990b25180f28";

	@Test
	void lintsCleanInStrictMode() {
		LintResult lint = new Helm(CHART).lint().strict().call();
		assertThat(lint.isFailed()).as(String.join("\n", lint.getMessages())).isFalse();
		assertThat(lint.getMessages()).noneMatch(message -> message.contains("[ERROR]") || message.contains("[WARNING]"));
	}

	static Stream<String> valuesFiles() throws IOException {
		List<String> files = new ArrayList<>();
		files.add("default");
		try (Stream<Path> ci = Files.list(CHART.resolve("ci"))) {
			ci.map(path -> path.getFileName().toString()).filter(name -> name.endsWith("-values.yaml")).sorted()
				.forEach(files::add);
		}
		return files.stream();
	}

	@Test
	void thereIsACiValuesFileForEveryOptionalFeature() throws IOException {
		assertThat(valuesFiles()).contains("autoscaling-values.yaml", "pdb-values.yaml", "servicemonitor-values.yaml",
				"ingress-values.yaml", "networkpolicy-values.yaml", "dashboard-values.yaml", "providers-values.yaml",
				"existing-secret-values.yaml", "redis-values.yaml", "security-values.yaml");
	}

	@ParameterizedTest(name = "{0}")
	@MethodSource("valuesFiles")
	void deploymentIsProductionGrade(String valuesFile, @TempDir Path secrets) throws IOException {
		Rendered rendered = render(valuesFile);
		Map<String, Object> pod = rendered.map(rendered.one("Deployment", FULLNAME), "spec", "template", "spec");
		Map<String, Object> container = rendered.only(rendered.list(pod, "containers"));

		// Ports: the API and the management port, by name.
		assertThat(rendered.list(container, "ports")).extracting(port -> port.get("name"), port -> port.get("containerPort"))
			.containsExactly(org.assertj.core.groups.Tuple.tuple("http", 8080),
					org.assertj.core.groups.Tuple.tuple("management", 8081));
		// Probes on the management port.
		assertThat(rendered.map(container, "livenessProbe", "httpGet")).containsEntry("path", "/actuator/health/liveness")
			.containsEntry("port", "management");
		assertThat(rendered.map(container, "readinessProbe", "httpGet"))
			.containsEntry("path", "/actuator/health/readiness")
			.containsEntry("port", "management");
		assertThat(rendered.map(container, "startupProbe", "httpGet")).containsEntry("path", "/actuator/health/liveness");

		// Bitnami-style hardening: non-root, read-only root with a writable /tmp, no capabilities,
		// RuntimeDefault seccomp.
		Map<String, Object> podSecurity = rendered.map(pod, "securityContext");
		assertThat(podSecurity).containsEntry("runAsNonRoot", true).containsEntry("runAsUser", 1000);
		assertThat(rendered.map(podSecurity, "seccompProfile")).containsEntry("type", "RuntimeDefault");
		Map<String, Object> security = rendered.map(container, "securityContext");
		assertThat(security).containsEntry("runAsNonRoot", true)
			.containsEntry("readOnlyRootFilesystem", true)
			.containsEntry("allowPrivilegeEscalation", false)
			.containsEntry("privileged", false);
		assertThat(rendered.map(security, "capabilities")).containsEntry("drop", List.of("ALL"));
		assertThat(rendered.map(security, "seccompProfile")).containsEntry("type", "RuntimeDefault");
		assertThat(rendered.list(container, "volumeMounts")).anySatisfy(mount -> assertThat(mount)
			.containsEntry("mountPath", "/tmp")
			.doesNotContainKey("readOnly"));
		assertThat(rendered.list(pod, "volumes")).anySatisfy(volume -> assertThat(volume).containsEntry("name", "tmp")
			.containsKey("emptyDir"));
		assertThat(pod).containsEntry("automountServiceAccountToken", false);

		// Resources set; the heap follows the memory limit.
		assertThat(rendered.map(container, "resources", "limits")).containsKey("memory");
		assertThat(env(rendered, container, "JAVA_TOOL_OPTIONS")).contains("-XX:MaxRAMPercentage=75");

		// The configuration: application.yaml of the ConfigMap, as the application binds it.
		Binder binder = binder(rendered, secrets, valuesFile);
		StreamProperties streams = binder.bindOrCreate("scalpel.streams", StreamProperties.class);
		assertThat(binder.bind("server.port", Integer.class).get()).isEqualTo(8080);
		assertThat(binder.bind("management.server.port", Integer.class).get()).isEqualTo(8081);
		Duration phase = binder.bind("spring.lifecycle.timeout-per-shutdown-phase", Duration.class).get();
		assertThat(phase).as("the shutdown phase holds the drain").isGreaterThan(streams.drainTimeout());
		assertThat(env(rendered, container, "SPRING_CONFIG_ADDITIONAL_LOCATION")).isEqualTo("optional:file:/etc/scalpel/config/");
		assertThat(rendered.list(container, "volumeMounts")).anySatisfy(mount -> assertThat(mount)
			.containsEntry("name", "config")
			.containsEntry("mountPath", "/etc/scalpel/config"));

		// Drain: the grace period outlasts the preStop pause plus the drain.
		List<?> preStop = (List<?>) rendered.map(container, "lifecycle", "preStop", "exec").get("command");
		assertThat(preStop).hasSize(2).first().isEqualTo("sleep");
		long pause = Long.parseLong((String) preStop.get(1));
		int grace = (Integer) pod.get("terminationGracePeriodSeconds");
		assertThat(Duration.ofSeconds(grace)).isGreaterThan(streams.drainTimeout().plusSeconds(pause));

		// Services: the API on one, the management port only on the metrics one.
		Map<String, Object> api = rendered.one("Service", FULLNAME);
		assertThat(rendered.list(rendered.map(api, "spec"), "ports")).singleElement()
			.satisfies(port -> assertThat(port).containsEntry("port", 8080).containsEntry("targetPort", "http"));
		Map<String, Object> metrics = rendered.one("Service", FULLNAME + "-metrics");
		assertThat(rendered.list(rendered.map(metrics, "spec"), "ports")).singleElement()
			.satisfies(port -> assertThat(port).containsEntry("port", 8081).containsEntry("targetPort", "management"));
		assertThat(rendered.one("ServiceAccount", FULLNAME)).isNotNull();

		// helm test: a pod that starts and cancels a stream.
		Rendered hooks = renderTestHooks(valuesFile, secrets.resolve("chart"));
		Map<String, Object> test = hooks.one("Pod", FULLNAME + "-test-stream");
		Map<String, Object> testContainer = hooks.only(hooks.list(hooks.map(test, "spec"), "containers"));
		assertThat(String.join(" ", hooks.strings(testContainer, "command"))).contains("/v1/streams")
			.contains("/cancel")
			.contains("\"background\":true");
		assertThat(env(hooks, testContainer, "SCALPEL")).isEqualTo("http://" + FULLNAME + ":8080");
		assertThat(hooks.map(testContainer, "securityContext")).containsEntry("readOnlyRootFilesystem", true);
	}

	@Test
	void theTestPodIsAHelmTestHook() throws IOException {
		assertThat(Files.readString(CHART.resolve("templates/tests/test-stream.yaml")))
			.contains("\"helm.sh/hook\": test");
	}

	@Test
	void notesTellHowToStreamWithCurl() {
		String output = new Helm(CHART).install()
			.withName(RELEASE)
			.withNamespace("llm")
			.dryRun()
			.withDryRunOption(com.marcnuri.helm.DryRun.CLIENT)
			.clientOnly()
			.call()
			.getOutput();
		String notes = output.substring(output.indexOf("NOTES:"));
		assertThat(notes).contains("kubectl --namespace llm port-forward svc/demo-scalpel 8080:8080")
			.contains("curl -N \"$SCALPEL/v1/streams\"")
			.contains("/cancel")
			.contains("helm test demo")
			.contains("WARNING: no API keys are configured")
			.doesNotContain("Authorization");
	}

	@Test
	void notesShowTheKeyInTheCurlWhenKeysAreOn() {
		String output = new Helm(CHART).install()
			.withName(RELEASE)
			.withNamespace("llm")
			.withValuesFile(CHART.resolve("ci").resolve("security-values.yaml"))
			.dryRun()
			.withDryRunOption(com.marcnuri.helm.DryRun.CLIENT)
			.clientOnly()
			.call()
			.getOutput();
		String notes = output.substring(output.indexOf("NOTES:"));
		assertThat(notes).contains("curl -N \"$SCALPEL/v1/streams\" -H \"Authorization: Bearer $SCALPEL_API_KEY\"")
			.contains("/cancel\" -H \"Authorization: Bearer $SCALPEL_API_KEY\"")
			.doesNotContain("WARNING: no API keys")
			.doesNotContain(WEB_BACKEND_SHA256);
	}

	@Test
	void defaultsRenderOnlyTheCoreObjectsAndBindToTheApplicationDefaults(@TempDir Path secrets) throws IOException {
		Rendered rendered = render("default");
		assertThat(rendered.kinds()).containsExactlyInAnyOrder("ServiceAccount", "ConfigMap", "Service", "Service",
				"Deployment");
		Binder binder = binder(rendered, secrets, "default");
		assertThat(binder.bindOrCreate("scalpel.slots", SlotProperties.class).max()).isEqualTo(64);
		QueueProperties queue = binder.bindOrCreate("scalpel.queue", QueueProperties.class);
		assertThat(queue.max()).isEqualTo(256);
		assertThat(binder.bindOrCreate("scalpel.streams", StreamProperties.class).drainTimeout())
			.isEqualTo(Duration.ofSeconds(20));
		assertThat(binder.bindOrCreate("scalpel.providers", ProviderProperties.class).defaultModel()).isEqualTo("simulated");
		// No keys: the API is open (the application warns), nothing of security is mounted.
		SecurityProperties security = binder.bindOrCreate("scalpel.security", SecurityProperties.class);
		assertThat(security.keys()).isEmpty();
		assertThat(security.quota().maxConcurrentStreams()).isZero();
		assertThat(security.quota().startsPerMinute()).isZero();
		assertThat(security.attachToken().ttl()).isEqualTo(Duration.ofMinutes(5));
		assertThat(security.attachToken().secret()).isNull();
		assertThat(security.cors().allowedOrigins()).isEmpty();
		assertThat(security.cors().maxAge()).isEqualTo(Duration.ofMinutes(30));
		Map<String, Object> pod = rendered.map(rendered.one("Deployment", FULLNAME), "spec", "template", "spec");
		assertThat(pod).containsEntry("terminationGracePeriodSeconds", 35);
		assertThat(rendered.list(pod, "volumes")).noneSatisfy(volume -> assertThat(volume).containsEntry("name", "security"));
		assertThat(rendered.one("Deployment", FULLNAME)).extracting(deployment -> rendered.map(deployment, "spec"))
			.satisfies(spec -> assertThat(spec).containsEntry("replicas", 1));
	}

	@Test
	void providersAndTheirKeysBindThroughTheSecretsConfigTree(@TempDir Path secrets) throws IOException {
		Rendered rendered = render("providers-values.yaml");
		Map<String, Object> secret = rendered.one("Secret", FULLNAME);
		assertThat(rendered.map(secret, "data")).containsOnlyKeys("openai-api-key", "anthropic-api-key");
		Map<String, Object> pod = rendered.map(rendered.one("Deployment", FULLNAME), "spec", "template", "spec");
		assertThat(rendered.list(pod, "volumes")).anySatisfy(volume -> assertThat(volume).containsEntry("name", "secrets")
			.containsEntry("projected", Map.of("sources", List.of(Map.of("secret", Map.of("name", FULLNAME))))));
		assertThat(pod).containsEntry("terminationGracePeriodSeconds", 80);

		Binder binder = binder(rendered, secrets, "providers-values.yaml");
		ProviderProperties providers = binder.bindOrCreate("scalpel.providers", ProviderProperties.class);
		assertThat(providers.defaultModel()).isEqualTo("gpt-4.1-mini");
		assertThat(providers.endpoints()).extracting(ProviderProperties.Endpoint::name, ProviderProperties.Endpoint::type,
				ProviderProperties.Endpoint::apiKey)
			.containsExactly(org.assertj.core.groups.Tuple.tuple("openai", ProviderProperties.Type.OPENAI, "sk-test-openai"),
					org.assertj.core.groups.Tuple.tuple("anthropic", ProviderProperties.Type.ANTHROPIC, "sk-ant-test"));
		assertThat(providers.endpoints().get(0).models()).containsExactly("gpt-4.1-mini", "gpt-4.1");
		assertThat(providers.endpoints().get(1).defaultMaxTokens()).isEqualTo(2048);
		assertThat(binder.bindOrCreate("scalpel.slots", SlotProperties.class).max()).isEqualTo(200);
		QueueProperties queue = binder.bindOrCreate("scalpel.queue", QueueProperties.class);
		assertThat(queue.max()).isEqualTo(1000);
		assertThat(queue.timeout()).isEqualTo(Duration.ofSeconds(45));
		assertThat(binder.bindOrCreate("scalpel.upstream", UpstreamProperties.class).retry().maxAttempts()).isEqualTo(2);
		assertThat(binder.bindOrCreate("scalpel.streams", StreamProperties.class).drainTimeout())
			.isEqualTo(Duration.ofSeconds(60));
		Map<String, Object> container = rendered.only(rendered.list(pod, "containers"));
		assertThat(env(rendered, container, "JAVA_TOOL_OPTIONS")).contains("-XX:ActiveProcessorCount=2");
		// Keys never in the ConfigMap or the environment.
		assertThat(rendered.configMapYaml()).doesNotContain("sk-test-openai").contains("${openai-api-key:}");
		assertThat(rendered.list(container, "env").toString()).doesNotContain("sk-");
	}

	@Test
	void anExistingSecretIsMountedAndNoSecretIsCreated(@TempDir Path secrets) throws IOException {
		Rendered rendered = render("existing-secret-values.yaml");
		assertThat(rendered.kinds()).doesNotContain("Secret");
		Map<String, Object> pod = rendered.map(rendered.one("Deployment", FULLNAME), "spec", "template", "spec");
		assertThat(rendered.list(pod, "volumes")).anySatisfy(volume -> assertThat(volume).containsEntry("name", "secrets")
			.containsEntry("projected", Map.of("sources", List.of(Map.of("secret", Map.of("name", "llm-provider-keys"))))));
		ProviderProperties.Endpoint vllm = binder(rendered, secrets, "existing-secret-values.yaml")
			.bindOrCreate("scalpel.providers", ProviderProperties.class)
			.endpoints()
			.get(0);
		assertThat(vllm.includeUsage()).isFalse();
		assertThat(vllm.headers()).containsEntry("X-Route", "gpu-pool-a");
		assertThat(vllm.apiKey()).isEqualTo("vllm-api-key-value");
	}

	@Test
	void optionalFeaturesRenderTheirObjects() throws IOException {
		Map<String, Object> hpa = render("autoscaling-values.yaml").one("HorizontalPodAutoscaler", FULLNAME);
		assertThat(hpa.toString()).contains("averageUtilization=70").contains("scalpel_slot_utilization");
		assertThat(render("autoscaling-values.yaml").map(render("autoscaling-values.yaml").one("Deployment", FULLNAME),
				"spec")).doesNotContainKey("replicas");

		assertThat(render("pdb-values.yaml").map(render("pdb-values.yaml").one("PodDisruptionBudget", FULLNAME), "spec"))
			.containsEntry("maxUnavailable", 1);

		Rendered monitor = render("servicemonitor-values.yaml");
		Map<String, Object> serviceMonitor = monitor.one("ServiceMonitor", FULLNAME);
		assertThat(monitor.map(serviceMonitor, "metadata", "labels")).containsEntry("release", "kube-prometheus-stack");
		assertThat(monitor.list(monitor.map(serviceMonitor, "spec"), "endpoints")).singleElement()
			.satisfies(endpoint -> assertThat(endpoint).containsEntry("port", "management")
				.containsEntry("path", "/actuator/prometheus")
				.containsEntry("interval", "30s"));
		assertThat(monitor.map(serviceMonitor, "spec", "selector", "matchLabels"))
			.containsEntry("app.kubernetes.io/component", "metrics");

		Rendered ingress = render("ingress-values.yaml");
		Map<String, Object> route = ingress.one("Ingress", FULLNAME);
		assertThat(ingress.map(route, "metadata", "annotations"))
			.containsEntry("nginx.ingress.kubernetes.io/proxy-buffering", "off")
			.containsEntry("nginx.ingress.kubernetes.io/proxy-read-timeout", "7200")
			.containsEntry("nginx.ingress.kubernetes.io/proxy-send-timeout", "7200")
			.containsEntry("cert-manager.io/cluster-issuer", "letsencrypt");
		assertThat(ingress.map(route, "spec")).containsEntry("ingressClassName", "nginx");
		assertThat(route.toString()).contains("name=http").contains("scalpel-tls");

		Rendered policy = render("networkpolicy-values.yaml");
		Map<String, Object> networkPolicy = policy.one("NetworkPolicy", FULLNAME);
		assertThat(policy.list(policy.map(networkPolicy, "spec"), "ingress")).hasSize(2)
			.anySatisfy(rule -> assertThat(rule.toString()).contains("port=management").contains("monitoring"))
			.anySatisfy(rule -> assertThat(rule.toString()).contains("port=http").contains("ingress-nginx"));

		Rendered dashboard = render("dashboard-values.yaml");
		Map<String, Object> configMap = dashboard.one("ConfigMap", FULLNAME + "-dashboard");
		assertThat(dashboard.map(configMap, "metadata")).containsEntry("namespace", "monitoring");
		assertThat(dashboard.map(configMap, "metadata", "labels")).containsEntry("grafana_dashboard", "1");
		assertThat(dashboard.map(configMap, "metadata", "annotations")).containsEntry("grafana_folder", "LLM");
		String json = (String) dashboard.map(configMap, "data").get("scalpel.json");
		assertThat(JsonMapper.shared().readTree(json))
			.isEqualTo(JsonMapper.shared().readTree(CHART.resolve("dashboards/scalpel.json").toFile()));
	}

	@Test
	void moreThanOneReplicaNeedsRedisMode() {
		assertThatThrownBy(() -> template().set("replicaCount", 2).call()).hasMessageContaining("replicaCount");
		assertThatThrownBy(() -> template().set("autoscaling.enabled", true).set("autoscaling.maxReplicas", 3).call())
			.hasMessageContaining("maxReplicas");
		assertThatThrownBy(() -> template().set("cluster.mode", "redis").call()).as("redis mode without a URL")
			.hasMessageContaining("url");
		assertThat(new Rendered(template().set("cluster.mode", "redis")
			.set("cluster.redis.url", "redis://redis:6379")
			.set("replicaCount", 2)
			.call()).one("Deployment", FULLNAME).toString()).contains("replicas=2");
	}

	@Test
	void redisModeBindsTheClusterAndTheRedisConnectionWithThePasswordFromItsSecret(@TempDir Path secrets)
			throws IOException {
		Rendered rendered = render("redis-values.yaml");
		Binder binder = binder(rendered, secrets, "redis-values.yaml");
		dev.scalpel.cluster.ClusterProperties cluster = binder.bindOrCreate("scalpel.cluster",
				dev.scalpel.cluster.ClusterProperties.class);
		assertThat(cluster.mode()).isEqualTo(dev.scalpel.cluster.ClusterProperties.Mode.REDIS);
		assertThat(cluster.leaseTime()).isEqualTo(Duration.ofSeconds(6));
		assertThat(binder.bind("spring.data.redis.url", String.class).get())
			.isEqualTo("redis://redis-master.data.svc:6379/0");
		assertThat(binder.bind("spring.data.redis.password", String.class).get()).isEqualTo("redis-password-value");
		assertThat(rendered.configMapYaml()).doesNotContain("redis-password-value");

		Map<String, Object> pod = rendered.map(rendered.one("Deployment", FULLNAME), "spec", "template", "spec");
		Map<String, Object> volume = rendered.list(pod, "volumes")
			.stream()
			.filter(candidate -> "secrets".equals(candidate.get("name")))
			.findFirst()
			.orElseThrow();
		assertThat(volume.toString()).contains("name=redis").contains("key=redis-password").contains("path=redis-password");
		assertThat(rendered.map(rendered.one("HorizontalPodAutoscaler", FULLNAME), "spec")).containsEntry("minReplicas", 2)
			.containsEntry("maxReplicas", 10);
		assertThat(rendered.map(rendered.one("Deployment", FULLNAME), "spec")).doesNotContainKey("replicas");
	}

	@Test
	@SuppressWarnings("unchecked")
	void apiKeysAreInTheirOwnSecretMountedAndImportedNeverInTheConfigMap(@TempDir Path secrets) throws IOException {
		Rendered rendered = render("security-values.yaml");
		Map<String, Object> secret = rendered.one("Secret", FULLNAME + "-security");
		assertThat(rendered.map(secret, "data")).containsOnlyKeys("security.yaml");
		String securityYaml = rendered.securityYaml();
		Map<String, Object> document = (Map<String, Object>) new Yaml(new SafeConstructor(new LoaderOptions()))
			.load(securityYaml);
		Map<String, Object> section = rendered.map(document, "scalpel", "security");
		assertThat(section).containsOnlyKeys("keys", "attach-token");
		assertThat(rendered.list(section, "keys")).containsExactly(
				Map.of("name", "web-backend", "sha256", WEB_BACKEND_SHA256, "role", "user", "max-concurrent-streams", 32,
						"starts-per-minute", 600),
				Map.of("name", "ops", "sha256", OPS_SHA256, "role", "admin"));
		assertThat(rendered.map(section, "attach-token"))
			.containsExactly(Map.entry("secret", "ci-attach-token-secret-0123456789-abcdefghij"));

		// Hashes and the secret never in the ConfigMap; quotas, ttl and CORS are there (no secrets).
		assertThat(rendered.configMapYaml()).doesNotContain(WEB_BACKEND_SHA256)
			.doesNotContain(OPS_SHA256)
			.doesNotContain("sha256")
			.doesNotContain("web-backend")
			.doesNotContain("ci-attach-token-secret");

		// Mounted read-only where application.yaml imports it from; pods roll when it changes.
		Map<String, Object> deployment = rendered.one("Deployment", FULLNAME);
		Map<String, Object> pod = rendered.map(deployment, "spec", "template", "spec");
		assertThat(rendered.list(pod, "volumes")).contains(Map.of("name", "security", "secret",
				Map.of("secretName", FULLNAME + "-security", "items",
						List.of(Map.of("key", "security.yaml", "path", "security.yaml")))));
		Map<String, Object> container = rendered.only(rendered.list(pod, "containers"));
		assertThat(rendered.list(container, "volumeMounts"))
			.contains(Map.of("name", "security", "mountPath", "/etc/scalpel/security", "readOnly", true));
		assertThat(rendered.map(deployment, "spec", "template", "metadata", "annotations"))
			.containsKey("checksum/security");
		assertThat(rendered.list(container, "env").toString()).doesNotContain(WEB_BACKEND_SHA256)
			.doesNotContain("ci-attach-token-secret");

		// As the application binds it: the ConfigMap with security.yaml imported over it.
		SecurityProperties security = binder(rendered, secrets, "security-values.yaml")
			.bindOrCreate("scalpel.security", SecurityProperties.class);
		assertThat(security.keys()).extracting(SecurityProperties.ApiKey::name, SecurityProperties.ApiKey::sha256,
				SecurityProperties.ApiKey::role, SecurityProperties.ApiKey::maxConcurrentStreams,
				SecurityProperties.ApiKey::startsPerMinute)
			.containsExactly(
					org.assertj.core.groups.Tuple.tuple("web-backend", WEB_BACKEND_SHA256, SecurityProperties.Role.USER, 32,
							600),
					org.assertj.core.groups.Tuple.tuple("ops", OPS_SHA256, SecurityProperties.Role.ADMIN, null, null));
		assertThat(security.quota().maxConcurrentStreams()).isEqualTo(8);
		assertThat(security.quota().startsPerMinute()).isEqualTo(120);
		assertThat(security.attachToken().ttl()).isEqualTo(Duration.ofMinutes(2));
		assertThat(security.attachToken().secret()).isEqualTo("ci-attach-token-secret-0123456789-abcdefghij");
		assertThat(security.cors().allowedOrigins()).containsExactly("https://app.example.com");
		assertThat(security.cors().maxAge()).isEqualTo(Duration.ofMinutes(10));

		// The helm test pod gets its key from the Secret the values name.
		Rendered hooks = renderTestHooks("security-values.yaml", secrets.resolve("chart"));
		Map<String, Object> testContainer = hooks
			.only(hooks.list(hooks.map(hooks.one("Pod", FULLNAME + "-test-stream"), "spec"), "containers"));
		assertThat(hooks.list(testContainer, "env")).contains(Map.of("name", "SCALPEL_API_KEY", "valueFrom",
				Map.of("secretKeyRef", Map.of("name", "scalpel-test-key", "key", "api-key"))));
		assertThat(String.join(" ", hooks.strings(testContainer, "command")))
			.contains("Authorization: Bearer $SCALPEL_API_KEY");
	}

	/**
	 * Without a secret in the values, the chart generates one, or keeps the one of the Secret already
	 * installed ({@code lookup}). helm-java's template asks a cluster for it (Helm's own {@code helm
	 * template} finds nothing), so a copy of the chart stands the lookup's answer in: nothing (a first
	 * install), then the Secret of an earlier release (an upgrade).
	 */
	@Test
	void withoutASecretValueTheAttachTokenSecretIsGeneratedOnceAndKeptOnUpgrades(@TempDir Path copies)
			throws IOException {
		String lookup = "lookup \"v1\" \"Secret\" .Release.Namespace (include \"scalpel.securitySecretName\" .)";
		Path firstInstall = copyChart(copies.resolve("install"));
		replace(firstInstall.resolve("templates/_helpers.tpl"), lookup, "dict");
		String generated = new Rendered(new Helm(firstInstall).template()
			.withName(RELEASE)
			.withNamespace("llm")
			.set("security.apiKeys[0].name", "web-backend")
			.set("security.apiKeys[0].sha256", WEB_BACKEND_SHA256)
			.call()).securityYaml();
		assertThat(generated).containsPattern("(?m)^      secret: [A-Za-z0-9]{48}$")
			.contains("role: user")
			.doesNotContain("max-concurrent-streams");

		String installed = "scalpel:\n  security:\n    attach-token:\n      secret: kept-from-the-installed-release-0123456789\n";
		Path upgrade = copyChart(copies.resolve("upgrade"));
		replace(upgrade.resolve("templates/_helpers.tpl"), lookup,
				"(dict \"data\" (dict \"security.yaml\" (\"" + installed.replace("\n", "\\n") + "\" | b64enc)))");
		String kept = new Rendered(new Helm(upgrade).template()
			.withName(RELEASE)
			.withNamespace("llm")
			.set("security.apiKeys[0].name", "web-backend")
			.set("security.apiKeys[0].sha256", WEB_BACKEND_SHA256)
			.call()).securityYaml();
		assertThat(kept).contains("secret: kept-from-the-installed-release-0123456789").contains(WEB_BACKEND_SHA256);
	}

	@Test
	void anExistingSecurityProfileSecretIsMountedAndNoSecretIsCreated() {
		Rendered rendered = new Rendered(template().set("security.existingSecret", "scalpel-security")
			.set("security.apiKeys[0].name", "ignored")
			.set("security.apiKeys[0].sha256", WEB_BACKEND_SHA256)
			.call());
		assertThat(rendered.kinds()).doesNotContain("Secret");
		Map<String, Object> pod = rendered.map(rendered.one("Deployment", FULLNAME), "spec", "template", "spec");
		assertThat(rendered.list(pod, "volumes")).contains(Map.of("name", "security", "secret",
				Map.of("secretName", "scalpel-security", "items",
						List.of(Map.of("key", "security.yaml", "path", "security.yaml")))));
		assertThat(rendered.list(rendered.only(rendered.list(pod, "containers")), "volumeMounts"))
			.anySatisfy(mount -> assertThat(mount).containsEntry("mountPath", "/etc/scalpel/security"));
	}

	@Test
	void jvmValuesAreAllTheJvmOptionsAndExtraOptionsComeLast() {
		// The chart's options replace the image's (both are JAVA_TOOL_OPTIONS), so they include the
		// image's defaults; ContainerImageIT holds the default equal to the image's and runs a JVM on them.
		assertThat(javaToolOptions(render("default")).split(" ")).containsExactly("-XX:MaxRAMPercentage=75",
				"-XX:+ExitOnOutOfMemoryError", "-XX:+UseG1GC", "-XX:+UseCompactObjectHeaders");
		assertThat(javaToolOptions(render(Map.of("jvm.maxRamPercentage", "60", "jvm.activeProcessorCount", "2",
				"jvm.extraOptions", "-Xlog:gc -XX:-UseCompactObjectHeaders")))
			.split(" ")).containsExactly("-XX:MaxRAMPercentage=60", "-XX:+ExitOnOutOfMemoryError", "-XX:+UseG1GC",
					"-XX:+UseCompactObjectHeaders", "-XX:ActiveProcessorCount=2", "-Xlog:gc",
					"-XX:-UseCompactObjectHeaders");
		// Another collector replaces G1: with two, the JVM does not start ("Multiple garbage collectors selected").
		for (String collector : List.of("Serial", "Parallel", "G1", "Z", "Shenandoah", "Epsilon")) {
			String options = javaToolOptions(render(Map.of("jvm.extraOptions", "-XX:+Use" + collector + "GC")));
			assertThat(options.split(" ")).containsOnlyOnce("-XX:+Use" + collector + "GC")
				.filteredOn(option -> option.matches("-XX:\\+Use\\w+GC"))
				.containsExactly("-XX:+Use" + collector + "GC");
		}
		// A flag that only looks like one keeps G1.
		assertThat(javaToolOptions(render(Map.of("jvm.extraOptions", "-XX:+UseAdaptiveSizePolicyWithSystemGC"))))
			.contains("-XX:+UseG1GC");
	}

	@Test
	void refusesBadApiKeys() {
		assertThatThrownBy(() -> template().set("security.apiKeys[0].name", "web")
			.set("security.apiKeys[0].sha256", "not-a-hash")
			.call()).hasMessageContaining("security.apiKeys.0.sha256");
		assertThatThrownBy(() -> template().set("security.apiKeys[0].name", "web")
			.set("security.apiKeys[0].sha256", WEB_BACKEND_SHA256.substring(1))
			.call()).hasMessageContaining("security.apiKeys.0.sha256");
		assertThatThrownBy(() -> template().set("security.apiKeys[0].name", "web")
			.set("security.apiKeys[0].sha256", WEB_BACKEND_SHA256)
			.set("security.apiKeys[0].role", "root")
			.call()).hasMessageContaining("security.apiKeys.0.role");
		assertThatThrownBy(() -> template().set("security.apiKeys[0].name", "-web")
			.set("security.apiKeys[0].sha256", WEB_BACKEND_SHA256)
			.call()).hasMessageContaining("security.apiKeys.0.name");
		assertThatThrownBy(() -> template().set("security.apiKeys[0].name", "anonymous")
			.set("security.apiKeys[0].sha256", WEB_BACKEND_SHA256)
			.call()).hasMessageContaining("security.apiKeys.0.name");
		assertThatThrownBy(() -> template().set("security.apiKeys[0].name", "web")
			.set("security.apiKeys[0].sha256", WEB_BACKEND_SHA256)
			.set("security.apiKeys[0].maxConcurrentStreams", -1)
			.call()).hasMessageContaining("security.apiKeys.0.maxConcurrentStreams");
		assertThatThrownBy(() -> template().set("security.apiKeys[0].name", "web")
			.set("security.apiKeys[0].sha256", WEB_BACKEND_SHA256)
			.set("security.apiKeys[1].name", "web")
			.set("security.apiKeys[1].sha256", OPS_SHA256)
			.call()).hasMessageContaining("\"web\" is used twice");
		assertThatThrownBy(() -> template().set("security.attachToken.secret", "too-short").call())
			.hasMessageContaining("security.attachToken.secret");
		assertThatThrownBy(() -> template().set("security.quota.startsPerMinute", -1).call())
			.hasMessageContaining("security.quota.startsPerMinute");
		assertThatThrownBy(() -> template().set("security.cors.allowedOrigins[0]", "app.example.com").call())
			.hasMessageContaining("security.cors.allowedOrigins");
		assertThatThrownBy(() -> template().set("security.keys", "x").call()).hasMessageContaining("keys");
		// A secret long enough, a wildcard or a local origin pass.
		assertThat(template().set("security.attachToken.secret", "x".repeat(32))
			.set("security.cors.allowedOrigins[0]", "http://localhost:3000")
			.set("security.cors.allowedOrigins[1]", "*")
			.call()).contains("http://localhost:3000");
	}

	@Test
	void refusesAGracePeriodThatLeavesNoTimeToDrain() {
		assertThatThrownBy(() -> template().set("terminationGracePeriodSeconds", 20).call())
			.hasMessageContaining("must be longer than drain.preStopSeconds + drain.timeoutSeconds (25)");
		assertThat(new Rendered(template().set("terminationGracePeriodSeconds", 26).call()).one("Deployment", FULLNAME)
			.toString()).contains("terminationGracePeriodSeconds=26");
	}

	@Test
	void refusesValuesTheSchemaDoesNotKnow() {
		assertThatThrownBy(() -> template().set("slots", 12).call()).hasMessageContaining("slots");
		assertThatThrownBy(() -> template().set("config.slots.max", 0).call()).hasMessageContaining("max");
		assertThatThrownBy(() -> template().set("image.pullPolicy", "Sometimes").call())
			.hasMessageContaining("pullPolicy");
	}

	private static com.marcnuri.helm.TemplateCommand template() {
		return new Helm(CHART).template().withName(RELEASE).withNamespace("llm");
	}

	/** The chart with its default values and these set ({@code --set key=value}). */
	static Rendered render(Map<String, String> values) {
		com.marcnuri.helm.TemplateCommand template = template();
		for (Map.Entry<String, String> value : values.entrySet()) {
			template = template.set(value.getKey(), value.getValue());
		}
		return new Rendered(template.call());
	}

	/** The JVM options the chart gives the container. */
	static String javaToolOptions(Rendered rendered) {
		Map<String, Object> pod = rendered.map(rendered.one("Deployment", FULLNAME), "spec", "template", "spec");
		return env(rendered, rendered.only(rendered.list(pod, "containers")), "JAVA_TOOL_OPTIONS");
	}

	static Rendered render(String valuesFile) {
		com.marcnuri.helm.TemplateCommand template = template();
		if (!"default".equals(valuesFile)) {
			template = template.withValuesFile(CHART.resolve("ci").resolve(valuesFile));
		}
		return new Rendered(template.call());
	}

	/**
	 * helm-java's template leaves hooks out, as {@code helm install} does from the release manifest; so
	 * the {@code helm test} pod is rendered from a copy of the chart whose hook annotation is removed.
	 */
	static Rendered renderTestHooks(String valuesFile, Path copy) throws IOException {
		copyChart(copy);
		Path test = copy.resolve("templates/tests/test-stream.yaml");
		Files.writeString(test, Files.readString(test).replace("\"helm.sh/hook\": test", "hook-removed-for-rendering: test"));
		com.marcnuri.helm.TemplateCommand template = new Helm(copy).template().withName(RELEASE).withNamespace("llm");
		if (!"default".equals(valuesFile)) {
			template = template.withValuesFile(CHART.resolve("ci").resolve(valuesFile));
		}
		return new Rendered(template.call());
	}

	static Path copyChart(Path copy) throws IOException {
		try (Stream<Path> files = Files.walk(CHART)) {
			for (Path source : files.toList()) {
				Path target = copy.resolve(CHART.relativize(source).toString());
				if (Files.isDirectory(source)) {
					Files.createDirectories(target);
				}
				else {
					Files.copy(source, target);
				}
			}
		}
		return copy;
	}

	private static void replace(Path file, String from, String to) throws IOException {
		String text = Files.readString(file);
		assertThat(text).contains(from);
		Files.writeString(file, text.replace(from, to));
	}

	/**
	 * The ConfigMap's application.yaml, with the chart's Secret (or a stand-in) as the config tree and
	 * the security Secret's security.yaml imported over it (an imported file wins over the importer).
	 */
	private static Binder binder(Rendered rendered, Path secrets, String valuesFile) throws IOException {
		MutablePropertySources sources = new MutablePropertySources();
		new YamlPropertySourceLoader()
			.load("configmap", new ByteArrayResource(rendered.configMapYaml().getBytes(StandardCharsets.UTF_8)))
			.forEach(sources::addLast);
		org.springframework.core.env.PropertySource<?> configMap = sources.iterator().next();
		assertThat(configMap.getProperty("spring.config.import[0]")).isEqualTo("optional:configtree:/etc/scalpel/secrets/");
		assertThat(configMap.getProperty("spring.config.import[1]"))
			.isEqualTo("optional:file:/etc/scalpel/security/security.yaml");
		String securityYaml = rendered.securityYamlOrNull();
		if (securityYaml != null) {
			new YamlPropertySourceLoader()
				.load("security.yaml", new ByteArrayResource(securityYaml.getBytes(StandardCharsets.UTF_8)))
				.forEach(sources::addFirst);
		}
		if (valuesFile.equals("existing-secret-values.yaml")) {
			Files.writeString(secrets.resolve("vllm-api-key"), "vllm-api-key-value");
		}
		if (valuesFile.equals("redis-values.yaml")) {
			// The projected volume puts the existing Secret's key at this path.
			Files.writeString(secrets.resolve("redis-password"), "redis-password-value");
		}
		for (Map<String, Object> secret : rendered.all("Secret")) {
			if ((FULLNAME + "-security").equals(rendered.map(secret, "metadata").get("name"))) {
				continue; // mounted on /etc/scalpel/security, not in the config tree
			}
			for (Map.Entry<String, Object> entry : rendered.map(secret, "data").entrySet()) {
				Files.write(secrets.resolve(entry.getKey()),
						java.util.Base64.getDecoder().decode((String) entry.getValue()));
			}
		}
		sources.addLast(new ConfigTreePropertySource("secrets", secrets));
		return new Binder(ConfigurationPropertySources.from(sources), new PropertySourcesPlaceholdersResolver(sources));
	}

	private static String env(Rendered rendered, Map<String, Object> container, String name) {
		return rendered.list(container, "env")
			.stream()
			.filter(variable -> name.equals(variable.get("name")))
			.map(variable -> (String) variable.get("value"))
			.findFirst()
			.orElseThrow(() -> new AssertionError("no env " + name));
	}

	/** The objects of a rendered chart. */
	record Rendered(List<Map<String, Object>> objects) {

		Rendered(String manifest) {
			this(parse(manifest));
		}

		@SuppressWarnings("unchecked")
		private static List<Map<String, Object>> parse(String manifest) {
			List<Map<String, Object>> objects = new ArrayList<>();
			for (Object document : new Yaml(new SafeConstructor(new LoaderOptions())).loadAll(manifest)) {
				if (document != null) {
					objects.add((Map<String, Object>) document);
				}
			}
			return objects;
		}

		List<String> kinds() {
			return this.objects.stream().map(object -> (String) object.get("kind")).toList();
		}

		List<Map<String, Object>> all(String kind) {
			return this.objects.stream().filter(object -> kind.equals(object.get("kind"))).toList();
		}

		Map<String, Object> one(String kind, String name) {
			List<Map<String, Object>> found = all(kind).stream()
				.filter(object -> name.equals(map(object, "metadata").get("name")))
				.toList();
			assertThat(found).as(kind + " " + name + " in " + kinds()).hasSize(1);
			return found.get(0);
		}

		String configMapYaml() {
			return (String) map(one("ConfigMap", FULLNAME), "data").get("application.yaml");
		}

		/** security.yaml of the chart's security Secret, decoded. */
		String securityYaml() {
			String yaml = securityYamlOrNull();
			assertThat(yaml).as("security.yaml of Secret " + FULLNAME + "-security").isNotNull();
			return yaml;
		}

		String securityYamlOrNull() {
			return all("Secret").stream()
				.filter(secret -> (FULLNAME + "-security").equals(map(secret, "metadata").get("name")))
				.map(secret -> (String) map(secret, "data").get("security.yaml"))
				.map(encoded -> new String(java.util.Base64.getDecoder().decode(encoded), StandardCharsets.UTF_8))
				.findFirst()
				.orElse(null);
		}

		@SuppressWarnings("unchecked")
		Map<String, Object> map(Map<String, Object> object, String... path) {
			Map<String, Object> current = object;
			for (String key : path) {
				assertThat(current).as("path " + String.join(".", path)).containsKey(key);
				current = (Map<String, Object>) current.get(key);
			}
			return current;
		}

		@SuppressWarnings("unchecked")
		List<Map<String, Object>> list(Map<String, Object> object, String key) {
			assertThat(object).containsKey(key);
			return (List<Map<String, Object>>) object.get(key);
		}

		@SuppressWarnings("unchecked")
		List<String> strings(Map<String, Object> object, String key) {
			return (List<String>) object.get(key);
		}

		Map<String, Object> only(List<Map<String, Object>> list) {
			assertThat(list).hasSize(1);
			return list.get(0);
		}

	}

}
