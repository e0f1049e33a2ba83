package dev.scalpel.system;

import java.net.URI;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.jspecify.annotations.Nullable;
import reactor.core.publisher.Mono;
import tools.jackson.core.JacksonException;
import tools.jackson.core.exc.InputCoercionException;
import tools.jackson.core.exc.StreamConstraintsException;
import tools.jackson.core.exc.StreamReadException;
import tools.jackson.databind.DatabindException;
import tools.jackson.databind.exc.InvalidNullException;
import tools.jackson.databind.exc.MismatchedInputException;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.core.annotation.Order;
import org.springframework.core.io.buffer.DataBufferLimitException;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.MediaType;
import org.springframework.http.ProblemDetail;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.stereotype.Component;
import org.springframework.util.InvalidMimeTypeException;
import org.springframework.web.ErrorResponse;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.ServerWebInputException;
import org.springframework.web.server.WebExceptionHandler;

import dev.scalpel.system.Problems.FieldProblem;

/**
 * Renders every error as an RFC 9457 problem detail ({@code application/problem+json}), whether it
 * comes from a controller, a filter or the framework's routing, ahead of Boot's default error
 * handler. Responses never carry stack traces, exception class names or Jackson's internal
 * messages; unexpected failures are logged here and answered with a bare {@code 500}.
 */
@Component
@Order(-2)
class ProblemWebExceptionHandler implements WebExceptionHandler {

	private static final Log logger = LogFactory.getLog(ProblemWebExceptionHandler.class);

	private static final Map<Integer, String> SLUGS = Map.of(400, "invalid_request", 404, "not_found", 405,
			"method_not_allowed", 406, "not_acceptable", 413, "payload_too_large", 415, "unsupported_media_type", 429,
			"too_many_requests", 503, "unavailable");

	private final JsonMapper json;

	ProblemWebExceptionHandler(JsonMapper json) {
		this.json = json;
	}

	/** Whether the path is the OpenAI-compatible front door's, whose errors are OpenAI's error objects. */
	private static boolean openAiDoor(String path) {
		return path.startsWith("/v1/chat/") || path.equals("/v1/models") || path.startsWith("/v1/models/");
	}

	@Override
	public Mono<Void> handle(ServerWebExchange exchange, Throwable failure) {
		ServerHttpResponse response = exchange.getResponse();
		if (response.isCommitted()) {
			// Too late for a problem detail (an event stream is under way): let the server close it.
			return Mono.error(failure);
		}
		Rendered rendered = render(failure);
		response.setStatusCode(rendered.problem().getStatus() > 0
				? HttpStatusCode.valueOf(rendered.problem().getStatus()) : HttpStatus.INTERNAL_SERVER_ERROR);
		HttpHeaders headers = response.getHeaders();
		headers.clear();
		headers.addAll(rendered.headers());
		if (openAiDoor(exchange.getRequest().getPath().value())) {
			// OpenAI's clients read errors in OpenAI's shape: the same answer, as they expect it.
			headers.setContentType(MediaType.APPLICATION_JSON);
			byte[] body = this.json.writeValueAsBytes(Map.of("error", openAi(rendered.problem())));
			return response.writeWith(Mono.fromSupplier(() -> response.bufferFactory().wrap(body)));
		}
		headers.setContentType(MediaType.APPLICATION_PROBLEM_JSON);
		if (rendered.problem().getInstance() == null) {
			URI instance = instance(exchange.getRequest().getURI().getRawPath());
			if (instance != null) {
				rendered.problem().setInstance(instance);
			}
		}
		byte[] body = this.json.writeValueAsBytes(rendered.problem());
		return response.writeWith(Mono.fromSupplier(() -> response.bufferFactory().wrap(body)));
	}

	private record Rendered(ProblemDetail problem, HttpHeaders headers) {
	}

	/**
	 * The request's path as the problem's {@code instance}, or null when it is not a relative URI on its
	 * own (found by the hostile-input test: {@code GET //} reads as an empty authority).
	 */
	private static @Nullable URI instance(@Nullable String rawPath) {
		if (rawPath == null || rawPath.isEmpty() || rawPath.startsWith("//")) {
			return null;
		}
		try {
			return URI.create(rawPath);
		}
		catch (IllegalArgumentException ex) {
			return null;
		}
	}

	/**
	 * A problem as OpenAI's error object: {@code message} (the detail), {@code type} (OpenAI's names:
	 * {@code invalid_request_error}, {@code rate_limit_error}, {@code server_error}), {@code param} (the
	 * first field at fault) and {@code code} (the problem's slug: {@code model_not_found},
	 * {@code overloaded}, ...). OpenAI's SDKs raise their usual exception for the HTTP status.
	 */
	private static Map<String, @Nullable Object> openAi(ProblemDetail problem) {
		int status = problem.getStatus();
		String slug = (problem.getType() != null && problem.getType().toString().startsWith(Problems.TYPE_BASE))
				? problem.getType().toString().substring(Problems.TYPE_BASE.length()) : "error";
		String param = null;
		if (problem.getProperties() != null && problem.getProperties().get("errors") instanceof List<?> errors
				&& !errors.isEmpty() && errors.get(0) instanceof FieldProblem first) {
			param = first.field();
		}
		Map<String, @Nullable Object> error = new LinkedHashMap<>();
		error.put("message", (problem.getDetail() != null) ? problem.getDetail() : String.valueOf(problem.getTitle()));
		error.put("type", (status == 429) ? "rate_limit_error" : (status >= 500) ? "server_error" : "invalid_request_error");
		error.put("param", param);
		error.put("code", slug);
		return error;
	}

	private Rendered render(Throwable failure) {
		DataBufferLimitException tooLarge = cause(failure, DataBufferLimitException.class);
		if (tooLarge != null) {
			return new Rendered(Problems.of(HttpStatus.CONTENT_TOO_LARGE, "payload_too_large", "Request too large",
					"The request body is larger than this service accepts."), HttpHeaders.EMPTY);
		}
		if (failure instanceof ServerWebInputException input) {
			return new Rendered(badInput(input), HttpHeaders.EMPTY);
		}
		if (cause(failure, InvalidMimeTypeException.class) != null) {
			// An Accept of more media types than Spring sorts, thrown while matching a handler.
			return new Rendered(AcceptHeader.invalid(null).getBody(), HttpHeaders.EMPTY);
		}
		if (failure instanceof ErrorResponse error) {
			ProblemDetail problem = error.getBody();
			if (problem.getType() == null || "about:blank".equals(problem.getType().toString())) {
				String slug = SLUGS.getOrDefault(problem.getStatus(), "error");
				problem.setType(Problems.type(slug));
				if (problem.getStatus() == 404) {
					problem.setDetail("No resource exists at this path.");
				}
			}
			if (problem.getDetail() == null || problem.getDetail().isBlank()) {
				// e.g. a 415 for a request without Content-Type: the framework leaves the detail out.
				problem.setDetail((problem.getStatus() == 415) ? "The body must be sent as application/json."
						: String.valueOf(problem.getTitle()) + ".");
			}
			return new Rendered(problem, error.getHeaders());
		}
		logger.error("Unexpected failure answered with 500", failure);
		return new Rendered(Problems.of(HttpStatus.INTERNAL_SERVER_ERROR, "internal_error", "Internal error",
				"The request could not be completed; the failure has been logged."), HttpHeaders.EMPTY);
	}

	/** A body that could not be read: say which field and why, in words of the API, not of Jackson. */
	private static ProblemDetail badInput(ServerWebInputException input) {
		ProblemDetail problem = Problems.of(HttpStatus.BAD_REQUEST, "invalid_request", "Invalid request", "");
		JacksonException jackson = cause(input, JacksonException.class);
		if (jackson instanceof StreamConstraintsException) {
			problem.setDetail("The JSON body exceeds a read limit (nesting depth, number or string length).");
		}
		else if ((jackson instanceof DatabindException || jackson instanceof InputCoercionException)
				&& !jackson.getPath().isEmpty()) {
			String field = path(jackson);
			String message = (jackson instanceof InvalidNullException) ? "must not be null"
					: (jackson instanceof MismatchedInputException mismatch) ? "must be " + describe(mismatch.getTargetType())
							: (jackson instanceof InputCoercionException coercion)
									? "is out of range for " + describe(coercion.getTargetType())
									: "has an invalid value";
			problem.setDetail(field + ": " + message);
			Problems.withErrors(problem, List.of(new FieldProblem(field, message)));
		}
		else if (jackson instanceof MismatchedInputException) {
			// Well-formed JSON of the wrong shape: an array, a string, or a second document after the object.
			problem.setDetail("The body must be a single JSON object.");
		}
		else if (jackson instanceof StreamReadException || jackson != null) {
			problem.setDetail("The body is not well-formed JSON.");
		}
		else if (input.getReason() != null && input.getReason().startsWith("No request body")) {
			problem.setDetail("A JSON body is required.");
		}
		else {
			problem.setDetail("The request could not be read.");
		}
		return problem;
	}

	private static String path(JacksonException jackson) {
		StringBuilder field = new StringBuilder();
		for (JacksonException.Reference reference : jackson.getPath()) {
			if (reference.getPropertyName() != null) {
				field.append((field.length() == 0) ? "" : ".").append(Problems.printable(reference.getPropertyName()));
			}
			else if (reference.getIndex() >= 0) {
				field.append('[').append(reference.getIndex()).append(']');
			}
		}
		return (field.length() == 0) ? "body" : field.toString();
	}

	private static String describe(@Nullable Class<?> type) {
		if (type == null) {
			return "of another type";
		}
		if (type == Integer.class || type == int.class || type == Long.class || type == long.class) {
			return "a whole number";
		}
		if (Number.class.isAssignableFrom(type) || type == double.class) {
			return "a number";
		}
		if (type == Boolean.class || type == boolean.class) {
			return "true or false";
		}
		if (type == String.class) {
			return "a string";
		}
		if (List.class.isAssignableFrom(type) || type.isArray()) {
			return "an array";
		}
		return "an object";
	}

	private static <T extends Throwable> @Nullable T cause(Throwable failure, Class<T> type) {
		for (Throwable each = failure; each != null; each = each.getCause()) {
			if (type.isInstance(each)) {
				return type.cast(each);
			}
			if (each.getCause() == each) {
				break;
			}
		}
		return null;
	}

}
