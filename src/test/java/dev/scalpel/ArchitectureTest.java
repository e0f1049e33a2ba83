package dev.scalpel;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;

import org.springframework.web.ErrorResponseException;

import dev.scalpel.system.ProblemAnswer;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.core.domain.JavaCall.Predicates.target;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.assignableTo;
import static com.tngtech.archunit.core.domain.properties.HasName.Predicates.name;
import static com.tngtech.archunit.core.domain.properties.HasOwner.Predicates.With.owner;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

/**
 * The package structure of ARCHITECTURE.md: features depend one way, the slot pool and the web
 * plumbing know nothing of streams, one class ends streams, and main code never blocks a Reactor
 * thread by design.
 */
@AnalyzeClasses(packages = "dev.scalpel", importOptions = ImportOption.DoNotIncludeTests.class)
class ArchitectureTest {

	@ArchTest
	static final ArchRule featuresHaveNoCycles = slices().matching("dev.scalpel.(*)..").should().beFreeOfCycles();

	@ArchTest
	static final ArchRule slotPoolStandsAlone = noClasses().that()
		.resideInAPackage("dev.scalpel.slot..")
		.should()
		.dependOnClassesThat()
		.resideInAnyPackage("dev.scalpel.stream..", "dev.scalpel.upstream..", "dev.scalpel.system..");

	@ArchTest
	static final ArchRule providersKnowNothingOfStreams = noClasses().that()
		.resideInAPackage("dev.scalpel.upstream..")
		.should()
		.dependOnClassesThat()
		.resideInAnyPackage("dev.scalpel.stream..", "dev.scalpel.slot..");

	@ArchTest
	static final ArchRule webPlumbingKnowsNoFeature = noClasses().that()
		.resideInAPackage("dev.scalpel.system..")
		.should()
		.dependOnClassesThat()
		.resideInAnyPackage("dev.scalpel.stream..", "dev.scalpel.slot..", "dev.scalpel.upstream..");

	@ArchTest
	static final ArchRule onlyTheLifecycleEndsAStream = noClasses().that()
		.doNotHaveFullyQualifiedName("dev.scalpel.stream.StreamLifecycle")
		.should()
		.callMethodWhere(target(owner(name("dev.scalpel.stream.ManagedStream")))
			.and(target(name("end"))))
		.because("every path that ends a stream goes through StreamLifecycle.end, whose first caller wins (ARCHITECTURE.md)");

	@ArchTest
	static final ArchRule noBlockingInMainCode = noClasses().should()
		.callMethod(Thread.class, "sleep", long.class)
		.orShould()
		.callMethodWhere(com.tngtech.archunit.core.domain.JavaCall.Predicates
			.target(com.tngtech.archunit.core.domain.properties.HasName.Predicates.nameMatching("block(First|Last)?")))
		.because("main code is reactive all the way (STYLE.md)");

	@ArchTest
	static final ArchRule problemAnswersTakeNoStackTrace = noClasses().that()
		.doNotBelongToAnyOf(ProblemAnswer.class)
		.should()
		.callConstructorWhere(target(owner(assignableTo(ErrorResponseException.class).and(not(assignableTo(ProblemAnswer.class))))))
		.because("an answer thrown to end a request is not a fault: filling in its stack trace costs the event loop (ProblemAnswer)");

}
