package dev.scalpel.stream;

import java.util.List;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The bounded replay log: ids from 1, growth up to its bound, then the oldest events go. */
class EventLogTest {

	@Test
	void idsStartAtOneAndIncreaseByOne() {
		EventLog log = new EventLog(100);
		assertThat(log.lastId()).isZero();
		assertThat(log.append("a", "{}").id()).isEqualTo(1);
		assertThat(log.append("b", "{}").id()).isEqualTo(2);
		assertThat(log.after(0, 10)).extracting(StreamEvent::type).containsExactly("a", "b");
		assertThat(log.after(1, 10)).extracting(StreamEvent::type).containsExactly("b");
		assertThat(log.after(2, 10)).isEmpty();
	}

	@Test
	void growsBeyondItsInitialSizeWithoutLosingEvents() {
		EventLog log = new EventLog(1000);
		for (int i = 1; i <= 700; i++) {
			log.append("e", String.valueOf(i));
		}
		assertThat(log.firstId()).isEqualTo(1);
		assertThat(log.after(0, 1000)).hasSize(700);
		assertThat(log.after(650, 10)).extracting(StreamEvent::id).containsExactly(651L, 652L, 653L, 654L, 655L, 656L,
				657L, 658L, 659L, 660L);
	}

	@Test
	void dropsTheOldestEventsPastItsBound() {
		EventLog log = new EventLog(16);
		for (int i = 1; i <= 40; i++) {
			log.append("e", String.valueOf(i));
		}
		assertThat(log.firstId()).isEqualTo(25);
		assertThat(log.retains(24)).isTrue();
		assertThat(log.retains(23)).isFalse();
		assertThat(log.after(24, 100)).extracting(StreamEvent::data).first().isEqualTo("25");
		assertThat(log.after(24, 100)).extracting(StreamEvent::data).last().isEqualTo("40");
	}

	@Test
	void readsAreBoundedByTheirMaximum() {
		EventLog log = new EventLog(64);
		for (int i = 0; i < 30; i++) {
			log.append("e", "{}");
		}
		assertThat(log.after(0, 7)).hasSize(7);
	}

	@Test
	void weighsTheEventsItRetainsAndLetsThemGoKeepingTheIds() {
		EventLog log = new EventLog(16);
		java.util.Random random = new java.util.Random(7);
		for (int i = 1; i <= 100; i++) {
			log.append("token", "x".repeat(random.nextInt(200)));
			long weights = log.after(log.firstId() - 1, 100).stream().mapToLong(StreamEvent::weight).sum();
			assertThat(log.bytes()).as("after %d appends", i).isEqualTo(weights);
		}
		log.clear();
		assertThat(log.bytes()).isZero();
		assertThat(log.lastId()).isEqualTo(100);
		assertThat(log.retains(100)).isTrue();
		assertThat(log.retains(99)).isFalse();
		assertThat(log.after(100, 10)).isEmpty();
	}

	@Test
	void aFrozenLogReadsBackTheSameEventsAndFramesInAFractionOfTheBytes() {
		java.util.Random random = new java.util.Random(11);
		for (int run = 0; run < 300; run++) {
			int bound = 16 + random.nextInt(40);
			EventLog log = new EventLog(bound);
			EventLog reference = new EventLog(bound);
			int appended = random.nextInt(120);
			for (int i = 0; i < appended; i++) {
				String type = (i % 7 == 0) ? "stream.started" : "token";
				String data = (type.equals("token")) ? StreamEvent.tokenData(text(random))
						: "{\"id\":\"str_x\",\"status\":\"in_progress\",\"n\":" + i + "}";
				log.append(type, data);
				reference.append(type, data);
			}
			long before = log.bytes();
			log.freeze();
			assertThat(log.frozen()).isEqualTo(appended > 0 || log.frozen());
			if (appended > 10) {
				assertThat(log.bytes()).as("run %d", run).isLessThan(before / 2);
			}
			assertThat(log.firstId()).isEqualTo(reference.firstId());
			assertThat(log.lastId()).isEqualTo(reference.lastId());
			for (long after = reference.firstId() - 1; after <= reference.lastId(); after++) {
				int max = 1 + random.nextInt(20);
				List<StreamEvent> frozen = log.after(after, max);
				List<StreamEvent> live = reference.after(after, max);
				assertThat(frozen).as("run %d after %d", run, after).isEqualTo(live);
				for (int i = 0; i < frozen.size(); i++) {
					assertThat(frozen.get(i).frame()).isEqualTo(live.get(i).frame());
				}
			}
			// Appending after all thaws it and goes on as before.
			log.append("token", StreamEvent.tokenData("late"));
			reference.append("token", StreamEvent.tokenData("late"));
			assertThat(log.frozen()).isFalse();
			assertThat(log.after(log.firstId() - 1, 1000)).isEqualTo(reference.after(reference.firstId() - 1, 1000));
			assertThat(log.bytes()).isEqualTo(reference.bytes());
		}
	}

	private static String text(java.util.Random random) {
		String[] pieces = { "Hello", " wörld", " 日本", " 🙂", " \"quoted\"", " back\\slash", " tab\t", " line\nbreak", "" };
		StringBuilder text = new StringBuilder();
		for (int i = random.nextInt(4); i >= 0; i--) {
			text.append(pieces[random.nextInt(pieces.length)]);
		}
		return text.toString();
	}

}
