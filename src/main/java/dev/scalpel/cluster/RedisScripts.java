package dev.scalpel.cluster;

import java.io.IOException;
import java.io.UncheckedIOException;

import org.springframework.core.io.ClassPathResource;
import org.springframework.data.redis.core.script.RedisScript;
import org.springframework.scripting.support.ResourceScriptSource;

/**
 * The Lua scripts of redis mode, loaded from {@code META-INF/scripts/scalpel/*.lua} (as Spring Cloud
 * Gateway loads its rate limiter's): each is a terminal transition or a rewrite that must happen in
 * Redis as one step.
 * @param ownerTerminal the owner's terminal event, written only while no terminal state is recorded
 * @param remoteTerminal a terminal state recorded by another replica than the owner
 * @param rewrite the owner writes one of its streams again into a Redis that lost it
 */
record RedisScripts(RedisScript<Long> ownerTerminal, RedisScript<String> remoteTerminal, RedisScript<Long> rewrite) {

	static RedisScripts load() {
		return new RedisScripts(script("owner-terminal", Long.class), script("remote-terminal", String.class),
				script("rewrite", Long.class));
	}

	/** Read once, here: a resource-backed script would read its file again at every call. */
	private static <T> RedisScript<T> script(String name, Class<T> result) {
		ResourceScriptSource source = new ResourceScriptSource(
				new ClassPathResource("META-INF/scripts/scalpel/" + name + ".lua"));
		try {
			return RedisScript.of(source.getScriptAsString(), result);
		}
		catch (IOException ex) {
			throw new UncheckedIOException("Could not read the Lua script " + name, ex);
		}
	}

}
