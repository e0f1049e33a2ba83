package dev.scalpel.security;

import java.util.List;

import org.springframework.security.authentication.AbstractAuthenticationToken;
import org.springframework.security.core.GrantedAuthority;
import org.springframework.security.core.authority.SimpleGrantedAuthority;

import dev.scalpel.stream.Caller;

/** What a request presented, and what it was found to be worth. */
final class Credentials {

	private Credentials() {
	}

	/** An {@code Authorization: Bearer} key, not yet checked. */
	static final class BearerKey extends AbstractAuthenticationToken {

		private String key;

		BearerKey(String key) {
			super(List.of());
			this.key = key;
		}

		@Override
		public String getCredentials() {
			return this.key;
		}

		@Override
		public Object getPrincipal() {
			return "bearer";
		}

		@Override
		public void eraseCredentials() {
			this.key = "";
		}

		@Override
		public String toString() {
			// Never the key: this object may end up in a log line.
			return "BearerKey[****]";
		}

	}

	/** An attach token presented to attach to one stream, not yet checked. */
	static final class AttachToken extends AbstractAuthenticationToken {

		private final String token;

		private final String streamId;

		AttachToken(String token, String streamId) {
			super(List.of());
			this.token = token;
			this.streamId = streamId;
		}

		@Override
		public String getCredentials() {
			return this.token;
		}

		@Override
		public String getPrincipal() {
			return this.streamId;
		}

		@Override
		public String toString() {
			return "AttachToken[stream=" + this.streamId + "]";
		}

	}

	/** A caller whose credentials were checked: a key's, or an attach token's for one stream. */
	static final class Authenticated extends AbstractAuthenticationToken {

		private final Caller caller;

		Authenticated(Caller caller, String authority) {
			super(List.<GrantedAuthority>of(new SimpleGrantedAuthority(authority)));
			this.caller = caller;
			setAuthenticated(true);
		}

		@Override
		public Object getCredentials() {
			return "";
		}

		@Override
		public Caller getPrincipal() {
			return this.caller;
		}

		@Override
		public String getName() {
			return this.caller.owner();
		}

	}

}
