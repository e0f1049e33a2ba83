package dev.scalpel.upstream;

/** One chat message: {@code role} is {@code system}, {@code user} or {@code assistant}. */
public record Message(String role, String content) {
}
