/** The Lighthouse Quest example: the game, its Péage wiring, and the catalog signing step. */
export { runQuest, QuestOffers, ExitCodes, type QuestSeams } from "./main.js";
export { playQuest, scriptedAnswers, LEVELS, type Level, type Riddle, type Io, type Gates, type QuestResult } from "./game.js";
export { signQuestCatalog, readDrafts, type SignQuestCatalogOptions } from "./sign-catalog.js";
