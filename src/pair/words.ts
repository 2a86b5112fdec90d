// The word list of pairing codes: 256 common English words (8 bits each), shipped here so that every netpunch
// draws and reads the same words. Chosen so that a code read aloud or typed by hand is hard to get wrong:
// lowercase a-z, 4 to 8 letters, no two alike in their first three letters (so three letters name a word),
// and any two differ in at least three letters (edit distance), so one slip never gives another word of the
// list, only a word that is not in it, which `parseCode` catches before the code is spent.
// test/unit/pair/words.test.ts checks every one of these properties.

/** The words, sorted; a word's index is the byte it stands for. */
export const WORDS: readonly string[] = `
  acid acorn acrobat adobe agent album alley almond alpaca amber anchor angel ankle apron armor atlas
  attic autumn avocado badge bakery balloon bamboo banana barrel basket beach bicycle bishop blender
  blossom bobcat bonfire border bottle bounty bramble bread brick bronze brush bubble buffalo burrito
  butter cabin cactus camera canoe carpet castle cedar cement cereal chalk cheese chicken cinema circus
  citizen clover coast cobra coconut coffee compass cookie copper cotton cousin coyote crayon crystal
  curtain cushion daisy dancer dentist desert diamond doctor dolphin domino donkey drawer drum dune
  eagle earth eclipse elbow elephant emerald engine envelope falcon feather fence ferry fiddle finger
  flag flute forest fossil fountain garden gazelle gecko giant giraffe glacier goblet gold goose gorilla
  grape guitar hamster harvest hazel hedgehog helmet hiking horizon husky iceberg igloo insect island
  ivory jaguar jasmine jelly jungle kayak kidney kitchen koala ladder lagoon lantern laptop lemon leopard
  lettuce library lilac lizard llama lobster locket lotus magnet mammoth mango marble meadow mercury
  meteor mirror mitten monsoon mosaic muffin museum nectar needle nephew nomad notebook nugget oasis
  oatmeal ocean octopus olive onion orange orbit orchid palace panda papaya parrot peanut pelican pencil
  pickle pilot pirate plumber poncho potato pretzel pumpkin puzzle pyramid quartz quilt rabbit raccoon
  radio raisin raven ribbon robot sailor salad scarf school scooter season sheriff shovel silver skater
  sketch sleigh snail spider sponge spruce station steam sugar summer sunset swan teacup temple thunder
  topaz tornado toucan tractor trolley trumpet tulip tunnel turkey umbrella unicorn vanilla vinegar
  violin volcano voyage vulture waffle walnut whistle window wombat yacht yogurt
`
  .trim()
  .split(/\s+/);
