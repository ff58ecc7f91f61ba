/**
 * The game itself, with no payment code in it: three levels of riddles on the way up to a
 * lighthouse's lamp. The payment hooks (`Gates`) are passed in, the way a publisher keeps the
 * Péage calls at a few points of the program.
 */

export interface Riddle {
  readonly question: string;
  /** Accepted answers, lower case; the first is the one the scripted player gives. */
  readonly answers: readonly string[];
  readonly hint: string;
}

export interface Level {
  readonly number: number;
  readonly name: string;
  readonly intro: string;
  readonly riddles: readonly Riddle[];
}

export const LEVELS: readonly Level[] = [
  {
    number: 1,
    name: "The Shore",
    intro: "The tide is out. A path of flat stones leads to the foot of the lighthouse, and an old keeper blocks the way.",
    riddles: [
      {
        question: "I have keys but open no locks. What am I?",
        answers: ["piano", "a piano", "keyboard"],
        hint: "It makes music.",
      },
      { question: "What has to be broken before you can use it?", answers: ["egg", "an egg"], hint: "Breakfast." },
      {
        question: "The more you take, the more you leave behind. What are they?",
        answers: ["footsteps", "steps"],
        hint: "Look at the sand behind you.",
      },
    ],
  },
  {
    number: 2,
    name: "The Cliffs",
    intro: "Wind tears at the stairs cut into the cliff. Gulls shout riddles from their nests.",
    riddles: [
      {
        question: "What runs but never walks, has a mouth but never talks?",
        answers: ["river", "a river"],
        hint: "It ends in the sea below.",
      },
      {
        question: "Light as a feather, yet no one can hold it for five minutes. What is it?",
        answers: ["breath", "your breath", "a breath"],
        hint: "You are taking one now.",
      },
      { question: "What can you catch but not throw?", answers: ["cold", "a cold"], hint: "The wind up here gives you one." },
    ],
  },
  {
    number: 3,
    name: "The Lamp Room",
    intro: "At the top, the great lens waits in the dark. Answer, and the light will turn again.",
    riddles: [
      {
        question: "What has one eye but cannot see?",
        answers: ["needle", "a needle"],
        hint: "The keeper mends the nets with it.",
      },
      {
        question: "The stair has 114 steps and you climb 3 each second. How many seconds to the top?",
        answers: ["38"],
        hint: "Divide.",
      },
      { question: "What gets wetter the more it dries?", answers: ["towel", "a towel"], hint: "After a swim." },
    ],
  },
];

/** Where the program meets the outside world: the player, and the payment hooks. */
export interface Io {
  say(text: string): void;
  /** The player's answer to a prompt; undefined when the player left (end of input). */
  ask(prompt: string): Promise<string | undefined>;
}

export interface Gates {
  /** Before each level after the first: true to enter it. */
  enterLevel(level: Level): Promise<boolean>;
  /** Before each move: true to go on (paid play time), false to stop the game. */
  beforeMove(): Promise<boolean>;
}

export interface QuestResult {
  readonly levelsCompleted: number;
  readonly riddlesSolved: number;
  /** Why the game ended. */
  readonly ending: "won" | "locked" | "stopped" | "left";
}

const MAX_TRIES = 3;

/** Plays the quest from the first level; a riddle missed three times is passed over (no point). */
export async function playQuest(io: Io, gates: Gates, levels: readonly Level[] = LEVELS): Promise<QuestResult> {
  let levelsCompleted = 0;
  let riddlesSolved = 0;
  for (const level of levels) {
    if (level.number > 1 && !(await gates.enterLevel(level))) {
      io.say(`Level ${level.number}, ${level.name}, stays locked. Thank you for playing!`);
      return { levelsCompleted, riddlesSolved, ending: "locked" };
    }
    io.say(`\n== Level ${level.number}: ${level.name} ==\n${level.intro}`);
    for (const riddle of level.riddles) {
      let solved = false;
      for (let attempt = 1; attempt <= MAX_TRIES && !solved; attempt++) {
        if (!(await gates.beforeMove())) return { levelsCompleted, riddlesSolved, ending: "stopped" };
        const answer = await io.ask(`${riddle.question} `);
        if (answer === undefined) return { levelsCompleted, riddlesSolved, ending: "left" };
        solved = riddle.answers.includes(answer.trim().toLowerCase());
        if (solved) io.say("Right!");
        else if (attempt < MAX_TRIES) io.say(`Not quite. Hint: ${riddle.hint}`);
        else io.say(`The answer was "${riddle.answers[0]}".`);
      }
      if (solved) riddlesSolved++;
    }
    levelsCompleted++;
  }
  io.say("\nThe lamp turns, and its beam sweeps the sea. You have won!");
  return { levelsCompleted, riddlesSolved, ending: "won" };
}

/** The scripted player of --auto: one wrong guess on the first riddle (to show a hint), then right answers. */
export function scriptedAnswers(levels: readonly Level[] = LEVELS): string[] {
  const answers = levels.flatMap((level) => level.riddles.map((riddle) => riddle.answers[0]!));
  return ["harp", ...answers];
}
